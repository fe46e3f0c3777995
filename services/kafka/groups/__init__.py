"""Consumer groups: the group coordinator (classic rebalance protocol, static membership) and
committed offsets, persisted in `__consumer_offsets` and spread over shards by group id."""

from .errors import Errc, GroupError
from .group import Group, GroupConfig, GroupState

__all__ = ["Errc", "Group", "GroupConfig", "GroupError", "GroupState"]
