"""Write buffers: large ones come from huge pages (bigger O_DIRECT device requests)."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import pytest

from panda.storage.write_buffer import HUGE_PAGE_BYTES, WriteBuffer, huge_pages_off, map_buffer

THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _huge_kib_of_mapping(address: int) -> int:
    """AnonHugePages of the mapping that holds address, from /proc/self/smaps."""
    holds = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        span = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
        if span:
            holds = int(span.group(1), 16) <= address < int(span.group(2), 16)
        elif holds and line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return 0


@pytest.mark.skipif(
    not THP_MODE.exists() or "[never]" in THP_MODE.read_text(),
    reason="transparent huge pages are off on this kernel",
)
def test_a_large_buffer_is_backed_by_huge_pages() -> None:
    mem = map_buffer(4 * HUGE_PAGE_BYTES)
    mem.write(b"\xab" * len(mem))  # touch every page
    anchor = ctypes.c_char.from_buffer(mem)
    try:
        assert _huge_kib_of_mapping(ctypes.addressof(anchor)) >= HUGE_PAGE_BYTES // 1024
    finally:
        del anchor
        mem.close()


def test_a_small_buffer_is_private_memory_that_grows_and_keeps_its_bytes() -> None:
    buffer = WriteBuffer(4096, hot_capacity_bytes=3 * HUGE_PAGE_BYTES)
    buffer.reset(100)
    buffer.append(b"x" * 5000)
    first = buffer.capacity_bytes
    buffer.append(b"y" * HUGE_PAGE_BYTES)  # grows straight to the hot capacity
    assert first < 3 * HUGE_PAGE_BYTES <= buffer.capacity_bytes
    assert bytes(buffer.view(100, 5100)) == b"x" * 5000
    assert bytes(buffer.view(5100, 5110)) == b"y" * 10


@pytest.mark.parametrize(
    ("mode", "off"),
    [("always [madvise] never\n", False), ("[always] madvise never\n", False),
     ("always madvise [never]\n", True)],
)
def test_huge_pages_off_reads_the_kernel_mode(tmp_path: Path, mode: str, off: bool) -> None:
    path = tmp_path / "enabled"
    path.write_text(mode)
    assert huge_pages_off(str(path)) is off


def test_an_unreadable_mode_is_not_reported_as_off(tmp_path: Path) -> None:
    assert huge_pages_off(str(tmp_path / "missing")) is False
