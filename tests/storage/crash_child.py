"""Child process of the crash test: appends durably forever, reporting each acknowledged batch.

argv: data_dir report_fd term seed. Writes 'ready\n', then one line per acknowledged batch:
'<base_offset> <hex of the batch as sent>\n' (each line under PIPE_BUF, so writes are atomic).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys

import uvloop

from panda.storage import record_batch as rb
from panda.storage.config import StorageConfig, TopicConfig
from panda.storage.log_manager import LogManager

WRITERS = 4
BATCH_VALUE_BYTES_MAX = 1500


def batch(rng: random.Random) -> bytes:
    n = rng.randint(1, 4)
    size = rng.randint(1, BATCH_VALUE_BYTES_MAX // n)
    records = [
        rb.Record(offset=i, timestamp=1_000 + i, key=None, value=rng.randbytes(size))
        for i in range(n)
    ]
    return rb.build_batch(records)


async def writer(log, fd: int, rng: random.Random, term: int) -> None:
    for _ in range(10_000_000):
        data = batch(rng)
        base = await log.append(data, term=term, durable=True)
        os.write(fd, f"{base} {data.hex()}\n".encode())


async def main(data_dir: str, fd: int, term: int, seed: int) -> None:
    config = StorageConfig(
        data_dir=data_dir,
        default_topic=TopicConfig(segment_bytes=256 * 1024),
        fallocate_bytes=64 * 1024,
        index_checkpoint_bytes=32 * 1024,
    )
    manager = await LogManager(config).start(housekeeping=False)
    log = await manager.open_log("crash-0")
    os.write(fd, b"ready\n")
    await asyncio.gather(
        *(writer(log, fd, random.Random(seed * 100 + i), term) for i in range(WRITERS))
    )


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
