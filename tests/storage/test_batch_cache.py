"""Batch cache: LRU within the budget, and reuse of large batches' memory only when unreferenced."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from panda.storage.batch_cache import RECYCLE_BYTES_MIN, RECYCLE_SLACK, BatchCache
from panda.storage.gil_free import COPY_GIL_FREE_BYTES, copy_into
from panda.storage.write_buffer import map_buffer

LARGE = RECYCLE_BYTES_MIN + 1000
CAPACITY = LARGE  # a fresh copy is exactly the batch


def test_small_batches_are_kept_as_copies_and_evicted_least_recently_used_first() -> None:
    cache = BatchCache(bytes_max=3000)
    source = bytearray(b"a" * 1000)
    cache.put_copy(1, 0, source)
    source[:] = b"z" * 1000  # the log's own bytes change after the copy
    cache.put_copy(1, 10, b"b" * 1000)
    cache.put_copy(2, 0, b"c" * 1000)
    assert cache.get(1, 0) == b"a" * 1000  # now the most recently used
    cache.put_copy(2, 10, b"d" * 1000)
    assert cache.get(1, 10) is None and cache.contains(1, 0) and cache.size_bytes == 3000


def test_a_large_batch_is_copied_into_memory_it_counts() -> None:
    cache = BatchCache(bytes_max=8 * CAPACITY)
    batch = os.urandom(LARGE)
    cache.put_copy(7, 100, memoryview(batch))
    view = cache.get(7, 100)
    assert view is not None and bytes(view) == batch
    assert cache.size_bytes == CAPACITY


def test_evicted_memory_is_reused_for_the_next_large_batch() -> None:
    cache = BatchCache(bytes_max=16 * CAPACITY)  # room for 16; 1/16 of it may sit spare
    for base in range(16):
        cache.put_copy(1, base, bytes([base]) * LARGE)
    assert cache.reuses == 0
    cache.put_copy(1, 16, b"c" * LARGE)  # evicts offset 0; its memory holds the new batch
    assert not cache.contains(1, 0) and cache.reuses == 1
    assert bytes(cache.get(1, 16) or b"") == b"c" * LARGE
    assert cache.size_bytes + cache.spare_bytes <= cache.bytes_max


def test_a_spare_is_reused_only_for_a_batch_it_fits_with_little_slack() -> None:
    cache = BatchCache(bytes_max=16 * CAPACITY)
    for base in range(16):
        cache.put_copy(1, base, bytes([base]) * LARGE)
    too_small = LARGE // RECYCLE_SLACK * (RECYCLE_SLACK - 1) - 1000  # would waste over 1/4
    cache.put_copy(1, 16, b"s" * too_small)  # evicts offset 0, whose memory does not fit
    assert cache.reuses == 0
    cache.put_copy(1, 17, b"f" * (LARGE - 100))  # fits offset 0's memory
    assert cache.reuses == 1
    assert bytes(cache.get(1, 17) or b"") == b"f" * (LARGE - 100)
    assert bytes(cache.get(1, 16) or b"") == b"s" * too_small


def test_memory_a_reader_still_views_is_never_reused() -> None:
    cache = BatchCache(bytes_max=16 * CAPACITY)
    for base in range(16):
        cache.put_copy(1, base, bytes([base]) * LARGE)
    held = cache.get(1, 0)  # a fetch response still being written out
    for base in range(1, 16):
        cache.get(1, base)  # offset 0 is the least recently used again
    cache.put_copy(1, 16, b"c" * LARGE)  # evicts offset 0 while `held` is alive: not reused
    assert not cache.contains(1, 0) and cache.reuses == 0
    cache.put_copy(1, 17, b"d" * LARGE)  # evicts offset 1, which nobody holds: reused
    assert cache.reuses == 1
    assert held is not None and bytes(held) == bytes([0]) * LARGE


def test_invalidation_frees_the_budget() -> None:
    cache = BatchCache(bytes_max=4 * CAPACITY)
    for base in range(4):
        cache.put_copy(3, base, bytes([base]) * LARGE)
    cache.invalidate_from(3, 2)
    assert [cache.contains(3, b) for b in range(4)] == [True, True, False, False]
    cache.drop_log(3)
    assert cache.size_bytes == 0 and cache.statistics()["batches"] == 0


@pytest.mark.parametrize("size", [10, COPY_GIL_FREE_BYTES - 1, COPY_GIL_FREE_BYTES + 12345])
@pytest.mark.parametrize("kind", [bytes, bytearray, "readonly view", "offset view"])
def test_copy_into_copies_any_contiguous_buffer(size: int, kind: object) -> None:
    data = os.urandom(size + 8)
    if kind == "readonly view":
        source: object = memoryview(data)[:size]
    elif kind == "offset view":
        source = memoryview(bytearray(data))[8:]
    else:
        source = kind(data[:size])  # type: ignore[operator]
    target = map_buffer(size + 100)
    assert copy_into(target, 50, source) == len(memoryview(source))  # type: ignore[arg-type]
    assert bytes(target[50 : 50 + len(memoryview(source))]) == bytes(source)  # type: ignore[call-overload]


def test_copy_into_refuses_to_overrun_the_target() -> None:
    target = bytearray(COPY_GIL_FREE_BYTES)
    with pytest.raises(ValueError, match="overruns"):
        copy_into(target, 1, bytes(COPY_GIL_FREE_BYTES))
    assert target == bytearray(COPY_GIL_FREE_BYTES)


def test_a_large_copy_lets_another_thread_run() -> None:
    """The point of copy_into: the GIL is free while the bytes move. With a 0.5 s switch
    interval another thread gets the GIL during the loop (~40 ms of copies) only if the copies
    release it."""
    source = os.urandom(8 * 1024 * 1024)
    target = bytearray(len(source))
    ran = threading.Event()
    stop = threading.Event()

    def other() -> None:
        while not stop.is_set():
            ran.set()

    thread = threading.Thread(target=other)
    thread.start()
    interval = sys.getswitchinterval()
    try:
        ran.wait(5)
        sys.setswitchinterval(0.5)
        ran.clear()
        for _ in range(50):
            copy_into(target, 0, source)
            if ran.is_set():
                break
        assert ran.is_set()
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        thread.join()


def test_spares_of_a_size_the_traffic_left_make_way_for_new_ones() -> None:
    cache = BatchCache(bytes_max=32 * CAPACITY)  # up to 2 batches' worth sits spare
    for base in range(32):
        cache.put_copy(1, base, b"a" * LARGE)
    bigger = LARGE * 3 // 2  # an old spare never fits these
    for base in range(32, 100):
        cache.put_copy(1, base, b"b" * bigger)
    assert cache.reuses > 0
    assert bytes(cache.get(1, 99) or b"") == b"b" * bigger
