"""Fetch sessions (KIP-227) as the broker keeps them: ids, bounds, updates, rotation."""

from uuid import UUID

from panda.services.kafka import fetch_session as fs

ZERO = UUID(int=0)


def _entry(partition: int, offset: int = 0) -> fs.SessionPartition:
    return fs.SessionPartition("t", ZERO, partition, offset, 1 << 20)


def test_ids_are_unique_and_carry_the_shard():
    cache = fs.FetchSessionCache(shard=1, smp=2)
    ids = {cache.create().session_id for _ in range(100)}
    assert len(ids) == 100 and all(i % 2 == 1 for i in ids)


def test_the_cache_is_bounded_and_evicts_the_least_recently_used():
    cache = fs.FetchSessionCache(shard=0, smp=1)
    first = cache.create()
    for _ in range(fs.SESSIONS_MAX):
        cache.create()
    assert cache.get(first.session_id) is None and len(cache) == fs.SESSIONS_MAX


def test_update_adds_moves_offsets_and_forgets():
    session = fs.FetchSession(1)
    fs.update(session, [_entry(0), _entry(1)], [])
    fs.update(session, [_entry(1, offset=42)], [("t", 0)])
    assert list(session.partitions) == [("t", 1)]
    assert session.partitions[("t", 1)].fetch_offset == 42


def test_partitions_that_returned_data_go_to_the_back():
    session = fs.FetchSession(1)
    fs.update(session, [_entry(p) for p in range(4)], [])
    fs.rotate(session, [session.partitions[("t", 0)], session.partitions[("t", 1)]])
    assert [p for _, p in session.partitions] == [2, 3, 0, 1]
