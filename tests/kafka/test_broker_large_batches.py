"""Large batches through a real broker: more than the batch cache holds, so the cache evicts
and reuses the memory of old batches while new ones arrive; every batch still reads back
byte-identical, from the cache or from the segment files."""

from __future__ import annotations

import os
import re

from panda.storage.record_batch import Record, build_batch, decode_records

from .conftest import KafkaWire, create_topic, fetch_body, produce_body, unique_topic

BATCH_VALUE_BYTES = 900 * 1024  # above the cache's reuse threshold (256 KiB)
BATCHES = 90  # 81 MiB: more than the default 64 MiB batch cache of a shard


def _metric_sum(text: str, name: str) -> float:
    return sum(float(v) for v in re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.MULTILINE))


def test_large_batches_read_back_identical_after_the_cache_reused_their_memory(module_broker):
    topic = unique_topic("large")
    values = [os.urandom(BATCH_VALUE_BYTES) for _ in range(BATCHES)]
    offsets = []
    with KafkaWire(module_broker.kafka_addr) as wire:
        assert create_topic(wire, topic, 1) == 0
        for i, value in enumerate(values):
            batch = build_batch([Record(offset=0, timestamp=i, key=b"%03d" % i, value=value)])
            response = wire.request(0, 9, produce_body(topic, 0, batch))
            (result,) = response.responses[0].partition_responses
            assert result.error_code == 0
            offsets.append(result.base_offset)
        for i in (0, BATCHES // 2, BATCHES - 1, *range(BATCHES)):  # cold, middle, hot, all
            fetched = wire.request(1, 12, fetch_body(topic, 0, offsets[i]))
            (data,) = fetched.responses[0].partitions
            assert data.error_code == 0
            first = decode_records(bytes(data.records))[0]
            assert (first.key, first.value) == (b"%03d" % i, values[i])
    metrics = module_broker.metrics()
    assert _metric_sum(metrics, "panda_storage_batch_cache_reuses_total") >= 10
    cached = _metric_sum(metrics, "panda_storage_batch_cache_size_bytes")
    spare = _metric_sum(metrics, "panda_storage_batch_cache_spare_bytes")
    assert 0 < cached + spare <= 2 * 64 * 1024 * 1024  # two shards, 64 MiB each at most
