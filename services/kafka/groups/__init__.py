"""Consumer groups: the group coordinator (classic rebalance protocol, static membership) and
committed offsets, persisted in `__consumer_offsets` and spread over shards by group id.

Run it with the broker: `--service panda.services.kafka.groups:GroupCoordinator`; the Kafka
handlers register when `panda.services.kafka.groups.handlers` is imported.
"""

from .config import GroupConfig
from .coordinator import GroupCoordinator, coordinator_shard
from .errors import Errc, GroupError
from .group import Group, GroupState
from .group_manager import GroupManager

__all__ = ["Errc", "Group", "GroupConfig", "GroupCoordinator", "GroupError", "GroupManager",
           "GroupState", "coordinator_shard"]
