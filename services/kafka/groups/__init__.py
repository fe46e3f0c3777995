"""Consumer groups: the group coordinator (classic rebalance protocol, static membership) and
committed offsets, persisted in `__consumer_offsets` and spread over shards by group id.

Run it with the broker: `--service panda.services.kafka.groups:GroupCoordinator`. Its Kafka
APIs are served by the broker's handlers (services/kafka/api/group_*.py), which call the
coordinator on the group's owner shard.
"""

from .config import GroupConfig
from .coordinator import GroupCoordinator, coordinator_of, coordinator_shard
from .errors import GroupError
from .group import Group, GroupState
from .group_clock import GroupClock, LoopClock, ManualClock
from .group_manager import GroupManager

__all__ = ["Group", "GroupClock", "GroupConfig", "GroupCoordinator", "GroupError",
           "GroupManager", "GroupState", "LoopClock", "ManualClock", "coordinator_of",
           "coordinator_shard"]
