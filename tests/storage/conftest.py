"""Helpers for storage tests: batch builders and a manager fixture on a tmp dir."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from panda.storage import record_batch as rb
from panda.storage.config import StorageConfig, TopicConfig
from panda.storage.log_manager import LogManager

T = TypeVar("T")


def make_batch(
    n: int = 1,
    value_bytes: int = 16,
    timestamp: int = 1_000,
    seed: int = 0,
    keys: list[bytes | None] | None = None,
    values: list[bytes | None] | None = None,
) -> bytes:
    records = []
    for i in range(n):
        key = keys[i] if keys is not None else None
        value = values[i] if values is not None else bytes([(seed + i) % 251]) * value_bytes
        records.append(rb.Record(offset=i, timestamp=timestamp + i, key=key, value=value))
    return rb.build_batch(records)


def run(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    return asyncio.run(fn(*args))


def config(tmp_path: Any, **kw: Any) -> StorageConfig:
    topic = kw.pop("topic", TopicConfig())
    return StorageConfig(data_dir=str(tmp_path), default_topic=topic, **kw)


async def started(cfg: StorageConfig) -> LogManager:
    return await LogManager(cfg).start(housekeeping=False)


@pytest.fixture
def cfg(tmp_path: Any) -> StorageConfig:
    return config(tmp_path / "data")
