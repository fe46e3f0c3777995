"""Kafka API handlers, one module per family; importing this package registers them all."""

from . import (  # noqa: F401
    api_versions,
    configs,
    fetch,
    metadata,
    offsets,
    produce,
    producer_ids,
    records,
    topics,
)
