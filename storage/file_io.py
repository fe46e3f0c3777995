"""The only place storage/ calls the operating system to change files.

Owns the syscalls (open, pwrite, fallocate, fdatasync, ftruncate, rename, unlink) and the
aligned staging buffer for O_DIRECT. Everything here blocks: call it from the storage I/O
thread, never from a reactor. Tests replace a FileIO to inject ENOSPC / EIO.
"""

from __future__ import annotations

import errno
import mmap
import os

ALIGN_BYTES = 4096  # O_DIRECT alignment of file offsets, lengths and buffer addresses


def align_down(value: int) -> int:
    return value & ~(ALIGN_BYTES - 1)


def align_up(value: int) -> int:
    return (value + ALIGN_BYTES - 1) & ~(ALIGN_BYTES - 1)


def is_disk_full(error: OSError) -> bool:
    return error.errno in (errno.ENOSPC, errno.EDQUOT)


class FileIO:
    """Blocking file operations. Subclass and override to inject faults."""

    def __init__(self, staging_bytes: int) -> None:
        self.staging_bytes = align_up(staging_bytes)
        self._staging: mmap.mmap | None = None

    def open_write(self, path: str, direct: bool) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
        if direct:
            flags |= os.O_DIRECT
        return os.open(path, flags, 0o644)

    def open_read(self, path: str) -> int:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def pwrite(self, fd: int, data: bytes | bytearray | memoryview, position: int) -> None:
        view = memoryview(data)
        done = 0
        while done < len(view):
            done += os.pwrite(fd, view[done:], position + done)

    def pwrite_direct(self, fd: int, head: bytes, data: memoryview, position: int) -> None:
        """Write head+data at the aligned `position` through the page-aligned staging buffer,
        zero-padding the last block. head is the already-written part of the first block."""
        assert position % ALIGN_BYTES == 0 and len(head) < ALIGN_BYTES
        staging = self._staging_buffer()
        step = self.staging_bytes - ALIGN_BYTES
        taken = 0
        first = True
        while first or taken < len(data):
            prefix = head if first else b""
            chunk = data[taken : taken + step - len(prefix)]
            used = len(prefix) + len(chunk)
            staging[: len(prefix)] = prefix
            staging[len(prefix) : used] = chunk
            padded = align_up(used)
            staging[used:padded] = bytes(padded - used)
            self.pwrite(fd, memoryview(staging)[:padded], position)
            position += used
            taken += len(chunk)
            first = False

    def _staging_buffer(self) -> mmap.mmap:
        if self._staging is None:
            self._staging = mmap.mmap(-1, self.staging_bytes)
        return self._staging

    def fallocate(self, fd: int, position: int, size: int) -> None:
        os.posix_fallocate(fd, position, size)

    def fdatasync(self, fd: int) -> None:
        os.fdatasync(fd)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def fsync_dir(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self, fd: int) -> None:
        os.close(fd)

    def unlink(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def write_file_atomic(self, path: str, data: bytes) -> None:
        """Write path so that a crash leaves either the old or the new content."""
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            self.pwrite(fd, data, 0)
            self.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        self.fsync_dir(os.path.dirname(path) or ".")

    def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)
        self.fsync_dir(os.path.dirname(dst) or ".")

    def release(self) -> None:
        if self._staging is not None:
            try:
                self._staging.close()
            except BufferError:  # a traceback still holds a view: the GC frees it later
                pass
            self._staging = None
