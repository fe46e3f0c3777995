"""`partition.meta`: the durable per-partition state that the segments cannot tell.

Owns the file's name and format (msgpack of `PartitionMeta`: today the log start offset).
Invariant: the file is replaced atomically on the I/O thread, so a crash leaves the old or the
new version, never a mix. Never fails an open: a missing or damaged file reads as defaults.
"""

from __future__ import annotations

import logging
import os

import msgspec

from panda.storage.io_thread import IOThread

log = logging.getLogger("panda.storage")

META_FILE = "partition.meta"


class PartitionMeta(msgspec.Struct, kw_only=True):
    """Durable per-partition state that the segments cannot tell."""

    start_offset: int = 0


def read_meta(directory: str) -> PartitionMeta:
    """The partition's meta file in `directory`; defaults when missing or damaged."""
    path = os.path.join(directory, META_FILE)
    try:
        with open(path, "rb") as file:
            return msgspec.msgpack.decode(file.read(), type=PartitionMeta)
    except FileNotFoundError:
        return PartitionMeta()
    except msgspec.DecodeError:
        log.warning("%s is damaged: using the first segment's base offset", path)
        return PartitionMeta()


async def write_meta(io_thread: IOThread, directory: str, meta: PartitionMeta) -> None:
    """Replace the meta file atomically, in order with the other file changes of the shard."""
    data = msgspec.msgpack.encode(meta)
    path = os.path.join(directory, META_FILE)
    await io_thread.run(io_thread.io.write_file_atomic, path, data)
