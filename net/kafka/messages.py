"""Message classes by spec name, loaded lazily: `messages.FetchRequest`,
`messages.module("FetchRequest").FetchTopic` for nested structs.

Owns name lookup only; importing this module loads no generated code.
"""

from __future__ import annotations

from types import ModuleType

from panda.net.kafka.registry import MODULES, codec


def module(name: str) -> ModuleType:
    """The generated module of a message (holds its nested struct classes and SCHEMA)."""
    return codec(name).module


def names() -> list[str]:
    return sorted(MODULES)


def __getattr__(name: str) -> type:
    if name in MODULES:
        return codec(name).message
    raise AttributeError(f"no Kafka message named {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(MODULES))
