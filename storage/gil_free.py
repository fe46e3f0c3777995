"""Large byte copies that release the GIL while they run.

Why: the reactor shares the GIL with the shard's storage I/O thread. A 1 MiB slice assignment
holds the GIL for ~0.1 ms, and the I/O thread, back from a write, waits that long (or a whole
switch interval) before it can queue the next one: measured, the disk idled between writes and
1 MiB durable appends ran ~10% slower. ctypes calls drop the GIL for the memmove, so the I/O
thread runs while the reactor copies.

The price: after the copy the reactor waits to take the GIL back, up to a switch interval if
another thread is running Python meanwhile. The shard's other threads (storage I/O, read-ahead)
run Python only briefly between system calls, so the wait is short.

Owns nothing; copy_into() is a plain function. Below COPY_GIL_FREE_BYTES a slice assignment is
cheaper than the ctypes calls (~10 us) and is used instead.
"""

from __future__ import annotations

import ctypes
import mmap
from collections.abc import Iterator
from contextlib import contextmanager

COPY_GIL_FREE_BYTES = 256 * 1024

_PYBUF_SIMPLE = 0
_PYBUF_WRITABLE = 1


class _PyBuffer(ctypes.Structure):
    """CPython's Py_buffer (stable since 3.3)."""

    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]
_release_buffer.restype = None


@contextmanager
def _address(obj: object, writable: bool) -> Iterator[tuple[int, int]]:
    """(address, length) of obj's contiguous bytes, held exported (so not moved or freed)."""
    view = _PyBuffer()
    if _get_buffer(obj, ctypes.byref(view), _PYBUF_WRITABLE if writable else _PYBUF_SIMPLE):
        raise BufferError(f"no contiguous buffer from {type(obj).__name__}")  # pragma: no cover
    try:
        yield view.buf or 0, view.len
    finally:
        _release_buffer(ctypes.byref(view))


def copy_into(
    dst: bytearray | mmap.mmap | memoryview, offset: int, src: bytes | bytearray | memoryview
) -> int:
    """Copy all of src (a contiguous buffer of bytes) into dst (a writable one: bytearray,
    mmap, memoryview) at offset; returns the bytes copied. Large copies release the GIL."""
    size = src.nbytes if isinstance(src, memoryview) else len(src)
    if size < COPY_GIL_FREE_BYTES:
        dst[offset : offset + size] = src
        return size
    with (
        _address(src, writable=False) as (src_address, size),
        _address(dst, writable=True) as (dst_address, capacity),
    ):
        if offset < 0 or offset + size > capacity:
            raise ValueError(f"copy of {size} bytes at {offset} overruns {capacity}")
        ctypes.memmove(dst_address + offset, src_address, size)
    return size
