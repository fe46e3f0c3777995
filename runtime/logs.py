"""Structured logs: one line per event, the shard id in every line."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)s shard=%(shard)s %(name)s: %(message)s"


class _ShardFilter(logging.Filter):
    def __init__(self, shard: str):
        super().__init__()
        self.shard = shard

    def filter(self, record: logging.LogRecord) -> bool:
        record.shard = self.shard
        return True


def setup(level: str, shard: str) -> None:
    """(Re)configure the root logger of this process for `shard` ("node" in the parent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(_ShardFilter(shard))
    root.addHandler(handler)
    root.setLevel(level.upper())
