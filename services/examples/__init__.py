"""Example services that show how to write a sharded service on panda.runtime."""
