"""One partition on its owning shard: its log, leader epoch, idempotent producers and the
consumers waiting for new data.

Owns the waiters (settled on `notify()`, never left behind on removal) and the topic configs
applied to its log. The high watermark is the log's committed offset: what a consumer may
read. Never appends or reads by itself: PartitionManager does, on this shard only.
"""

from __future__ import annotations

import asyncio

from panda.runtime import logs
from panda.storage.partition_log import PartitionLog

from . import topic_config
from .producer_state import ProducerState


class Partition:
    """One partition on its owning shard: the log, its epoch and its data waiters."""

    def __init__(self, topic: str, index: int, log: PartitionLog, configs: dict[str, str]):
        self.topic = topic
        self.index = index
        self.log = log
        self.leader_epoch = 0
        self.configure(configs)
        self.producers = ProducerState()
        self.logger = logs.logger("panda.services.kafka.partitions", partition=f"{topic}/{index}")
        self._waiters: list[asyncio.Future] = []

    def configure(self, configs: dict[str, str]) -> None:
        effective = topic_config.effective(configs)
        self.max_message_bytes = int(effective["max.message.bytes"])
        self.log_append_time = effective["message.timestamp.type"] == "LogAppendTime"
        self.log.topic = topic_config.storage_config(configs)

    @property
    def high_watermark(self) -> int:
        """What consumers may read: the log's committed offset. With one replica that is the
        fsynced offset, so a consumer never sees a record a crash could take back."""
        return self.log.high_watermark

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    def add_waiter(self, future: asyncio.Future) -> None:
        self._waiters.append(future)

    def when_durable(self, future: asyncio.Future) -> None:
        """Sync the appended tail now; settle `future` when it is committed."""

        def settle(task: asyncio.Task) -> None:
            if not future.done() and not task.cancelled() and task.exception() is None:
                future.set_result(None)

        task = asyncio.get_running_loop().create_task(
            self.log.wait_durable(self.log.next_offset))
        task.add_done_callback(settle)
