"""Metrics of the group coordinator on one shard, bumped by intent (`probe.rebalanced()`).

Owns counters only; `register` exposes them, with gauges over the live groups, in the shard's
metrics registry, every name `panda_kafka_group*`. Never reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class GroupProbe:
    def __init__(self) -> None:
        self.joins = 0
        self.rebalances = 0
        self.expirations = 0
        self.commits = 0
        self.group_writes = 0

    def joined(self) -> None:
        self.joins += 1

    def rebalanced(self, count: int = 1) -> None:
        self.rebalances += count

    def members_expired(self, count: int) -> None:
        self.expirations += count

    def offsets_committed(self, count: int) -> None:
        self.commits += count

    def group_persisted(self) -> None:
        self.group_writes += 1

    def register(self, metrics: Any, groups: Callable[[], int], members: Callable[[], int]) -> None:
        metrics.gauge("panda_kafka_groups", "Consumer groups this shard coordinates", groups)
        metrics.gauge("panda_kafka_group_members", "Members of the groups this shard coordinates",
                      members)
        metrics.counter("panda_kafka_group_joins_total", "JoinGroup requests handled",
                        lambda: self.joins)
        metrics.counter("panda_kafka_group_rebalances_total", "Rebalances started",
                        lambda: self.rebalances)
        metrics.counter("panda_kafka_group_member_expirations_total",
                        "Members removed by session, rebalance or sync timeouts",
                        lambda: self.expirations)
        metrics.counter("panda_kafka_group_offset_commits_total", "Partition offsets committed",
                        lambda: self.commits)
        metrics.counter("panda_kafka_group_metadata_writes_total",
                        "Group metadata records written to __consumer_offsets",
                        lambda: self.group_writes)
