"""The Kafka-compatible broker: listener, connections, API handlers and partitions."""

from .partition_manager import PartitionManager
from .server import KafkaServer

__all__ = ["KafkaServer", "PartitionManager"]
