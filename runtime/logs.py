"""Structured logs: one line per event, the shard id in every line, context as key=value.

`logger(name, partition="t/0")` gives a logger whose every line ends in the same fields, so
`grep partition=t/0` finds one partition's events across shards and restarts.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

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


class FieldLogger(logging.LoggerAdapter):
    """A logger that appends its fields (`key=value`) to every line it writes."""

    def __init__(self, logger: logging.Logger, fields: dict[str, Any]):
        super().__init__(logger, fields)
        self.fields = fields
        self._suffix = " ".join(f"{key}={value}" for key, value in fields.items())

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]
                ) -> tuple[Any, MutableMapping[str, Any]]:
        return (f"{msg} {self._suffix}" if self._suffix else msg), kwargs

    def bind(self, **fields: Any) -> FieldLogger:
        """The same logger with more fields (e.g. a group's logger from its service's)."""
        return FieldLogger(self.logger, {**self.fields, **fields})


def logger(name: str, **fields: Any) -> FieldLogger:
    """A logger named `name` whose lines carry `fields` (partition=..., group=...)."""
    return FieldLogger(logging.getLogger(name), fields)
