"""The Kafka-compatible broker: listener, connections, API handlers and partitions."""

from .config import KafkaConfig
from .partition_manager import PartitionManager
from .server import KafkaServer

__all__ = ["KafkaConfig", "KafkaServer", "PartitionManager"]
