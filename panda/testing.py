"""pytest plugin: fixtures that start real panda-runtime nodes for tests of sharded services.

Loaded automatically through the `pytest11` entry point once panda-runtime is installed.
"""
