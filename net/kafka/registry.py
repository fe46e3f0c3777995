"""Lazy index of the generated codec modules: per-message codec tables and the version
table the broker advertises in ApiVersions.

Owns loading: a generated module is imported on first use, never at package import.
Never decodes anything itself.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import NamedTuple

try:
    from panda.net.kafka._generated import MODULES, REQUESTS, RESPONSES
except ImportError:  # no generated package yet: only the generator can run
    MODULES, REQUESTS, RESPONSES = {}, {}, {}

__all__ = [
    "SUPPORTED_VERSIONS",
    "MessageCodec",
    "api_name",
    "broker_api_versions",
    "codec",
    "is_flexible",
    "request_codec",
    "response_codec",
]


class MessageCodec(NamedTuple):
    """The generated tables of one message; index the tuples by version."""

    name: str
    api_key: int | None
    min_version: int
    max_version: int
    flexible_min: int | None
    message: type
    decoders: tuple
    sizers: tuple
    writers: tuple
    module: ModuleType


_CACHE: dict[str, MessageCodec] = {}
_BY_KEY: dict[tuple[bool, int], MessageCodec] = {}

# api_key -> (min_version, max_version) of every request this package can decode.
SUPPORTED_VERSIONS: dict[int, tuple[int, int]] = {
    key: (MODULES[name][3], MODULES[name][4]) for key, name in sorted(REQUESTS.items())
}


def codec(name: str) -> MessageCodec:
    """Codec tables of a message by spec name, e.g. 'FetchRequest' or 'RequestHeader'."""
    found = _CACHE.get(name)
    if found is None:
        modname, _kind, api_key, lo, hi, flex_min, _listeners, _unstable = MODULES[name]
        mod = importlib.import_module(f"panda.net.kafka._generated.{modname}")
        found = MessageCodec(name, api_key, lo, hi, flex_min, mod.MESSAGE, mod.DECODERS,
                             mod.SIZERS, mod.WRITERS, mod)
        _CACHE[name] = found
    return found


def request_codec(api_key: int) -> MessageCodec | None:
    found = _BY_KEY.get((True, api_key))
    if found is None and api_key in REQUESTS:
        found = _BY_KEY[(True, api_key)] = codec(REQUESTS[api_key])
    return found


def response_codec(api_key: int) -> MessageCodec | None:
    found = _BY_KEY.get((False, api_key))
    if found is None and api_key in RESPONSES:
        found = _BY_KEY[(False, api_key)] = codec(RESPONSES[api_key])
    return found


def api_name(api_key: int) -> str | None:
    """'Fetch' for 1; None for an unknown key."""
    name = REQUESTS.get(api_key)
    return name[: -len("Request")] if name else None


def is_flexible(api_key: int, version: int) -> bool:
    flex_min = MODULES[REQUESTS[api_key]][5]
    return flex_min is not None and version >= flex_min


def broker_api_versions(listener: str = "broker") -> dict[int, tuple[int, int]]:
    """Versions a broker on `listener` advertises: APIs the spec assigns to that listener,
    without a latest version the spec marks unstable."""
    table = {}
    for key, name in sorted(REQUESTS.items()):
        _mod, _kind, _key, lo, hi, _flex, listeners, unstable = MODULES[name]
        if listener in listeners:
            table[key] = (lo, hi - 1 if unstable else hi)
    return table
