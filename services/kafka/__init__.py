"""The Kafka-compatible broker: listener, connections, API handlers and partitions."""

from .config import KafkaConfig
from .groups import handlers as _group_handlers  # noqa: F401 - registers the group APIs
from .partition_manager import PartitionManager
from .server import KafkaServer

__all__ = ["KafkaConfig", "KafkaServer", "PartitionManager"]
