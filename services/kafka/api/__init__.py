"""Kafka API handlers, one module per family; importing this package registers them all."""

from . import api_versions, configs, fetch, metadata, offsets, produce, topics  # noqa: F401
