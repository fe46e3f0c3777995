"""Kafka API handlers, one module per API family, listed in registry.py's table (the server
dispatches from it); importing this package registers nothing."""
