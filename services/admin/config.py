"""The admin service's config section (`admin:` in the node config, `--admin-addr`).

Owns the defaults of the admin API; the `panda` CLI (ctl.py) reads the same default address.
"""

from __future__ import annotations

from typing import Annotated

import msgspec


class AdminConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where the admin HTTP API (/metrics, /v1/...) listens, on shard 0."""

    addr: Annotated[str, msgspec.Meta(
        description="host:port of the admin HTTP server (/metrics) on shard 0",
    )] = "127.0.0.1:9644"
