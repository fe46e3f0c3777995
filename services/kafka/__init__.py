"""The Kafka-compatible broker: listener, connections, API handlers and partitions."""

from .partition_manager import PartitionManager
from .server import KafkaServer
from .groups import handlers as _group_handlers  # noqa: F401,E402 - registers the group APIs

__all__ = ["KafkaServer", "PartitionManager"]
