"""cleanup.policy=compact: latest record per key, tombstones expire, offsets never change."""

from __future__ import annotations

from panda.storage import record_batch as rb
from panda.storage.config import TopicConfig

from .conftest import config, make_batch, run, started

NOW_MS = 10_000_000


def records_of(log) -> list[rb.Record]:
    out = []
    for view in log.read(log.start_offset, 1 << 30).batches:
        out.extend(rb.decode_records(bytes(view)))
    return out


def test_compaction_keeps_latest_per_key_and_expires_tombstones(tmp_path):
    topic = TopicConfig(segment_bytes=4096, cleanup_policy="compact", delete_retention_ms=1000)
    cfg = config(tmp_path, topic=topic)

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("c-0")
        expected: dict[bytes, tuple[int, bytes | None]] = {}
        offset = 0
        for round_ in range(40):
            keys = [f"k{(round_ * 3 + i) % 7}".encode() for i in range(3)]
            values = [
                None if (round_ % 5 == 4 and i == 0) else f"v{round_}-{i}".encode() * 20
                for i in range(3)
            ]
            await log.append(
                make_batch(3, keys=keys, values=values, timestamp=NOW_MS - 5000 + round_)
            )
            for i, key in enumerate(keys):
                expected[key] = (offset + i, values[i])
            offset += 3
        await log.flush()
        before = records_of(log)
        closed_end = log.segments[-1].base_offset
        assert len(log.segments) >= 3
        # Tombstones younger than delete.retention.ms stay.
        await manager.housekeep_once(now_ms=NOW_MS - 5000)
        after = records_of(log)
        offsets = [r.offset for r in after]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
        by_offset = {r.offset: r for r in before}
        for record in after:  # never rewritten: same key, value and offset as appended
            assert by_offset[record.offset].key == record.key
            assert by_offset[record.offset].value == record.value
        closed = [r for r in after if r.offset < closed_end]
        closed_keys = [r.key for r in closed]
        assert len(closed_keys) == len(set(closed_keys)), "one record per key in closed segments"
        for record in after:
            latest_offset, _ = expected[record.key]
            if record.offset < closed_end and latest_offset < closed_end:
                assert record.offset == latest_offset
        for latest_offset, value in expected.values():  # the latest of every key survives
            assert any(r.offset == latest_offset and r.value == value for r in after)
        assert len(after) < len(before)
        assert log.next_offset == offset
        # Much later: tombstones in closed segments are gone.
        log.compaction_signature = ()
        await manager.housekeep_once(now_ms=NOW_MS + 10_000)
        final = records_of(log)
        assert not any(r.value is None and r.offset < closed_end for r in final)
        assert manager.probe.segments_compacted > 0
        await manager.stop()
        # Reopen: the compacted segments load and read the same.
        manager = await started(cfg)
        log = await manager.open_log("c-0")
        assert [(r.offset, r.key, r.value) for r in records_of(log)] == [
            (r.offset, r.key, r.value) for r in final
        ]
        assert await log.append(make_batch(1)) == offset
        await manager.stop()

    run(main)
