"""The only place storage/ calls the operating system to change files.

Owns the syscalls (open, pwrite, fallocate, fdatasync, ftruncate, rename, unlink). Everything
here blocks: call it from the storage I/O thread, never from a reactor. Tests replace a FileIO
to inject ENOSPC / EIO.
"""

from __future__ import annotations

import errno
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

    def open_write(self, path: str, direct: bool) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
        if direct:
            flags |= os.O_DIRECT
        return os.open(path, flags, 0o644)

    def open_read(self, path: str) -> int:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def pwrite(
        self, fd: int, data: bytes | bytearray | memoryview, position: int, dsync: bool = False
    ) -> None:
        """Write all of data at position; dsync: the data is durable on return (RWF_DSYNC,
        one syscall instead of a write plus an fdatasync)."""
        view = memoryview(data)
        done = 0
        flags = os.RWF_DSYNC if dsync else 0
        while done < len(view):
            done += os.pwritev(fd, [view[done:]], position + done, flags)

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

    def write_file_replace(self, path: str, data: bytes) -> None:
        """Replace path by write + rename, without syncing: for files that carry a CRC and
        may be lost or stale after a crash (index checkpoints)."""
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            self.pwrite(fd, data, 0)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)
        self.fsync_dir(os.path.dirname(dst) or ".")

    def release(self) -> None:
        """Free resources held by this FileIO (none for the plain one)."""
