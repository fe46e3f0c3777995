"""Config sections: the typed settings a service brings (`config_type`, a msgspec Struct).

Owns the rules a section obeys (unknown keys refused, a default and a description on every
field, one Struct per section name) and how its fields read as options: `$.kafka.addr`,
`--kafka-addr`, `PANDA_KAFKA_ADDR`. It never reads a file, the environment or argv.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Union

import msgspec

from .errors import ConfigError
from .service import Service

_SECTION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_UNIT_WORDS = {"bytes": "bytes", "ms": "ms", "us": "µs", "s": "s"}


@dataclass(frozen=True)
class OptionField:
    """One config field as the user meets it: path, flag, env name, type, unit and help."""

    section: str                 # "" for the runtime's own keys
    name: str
    kind: Any                    # int, float, str, bool, or another type (read as YAML)
    description: str
    unit: str | None
    ge: int | float | None = None
    le: int | float | None = None
    aliases: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return f"$.{self.section}.{self.name}" if self.section else f"$.{self.name}"

    @property
    def flag(self) -> str:
        return "--" + self.param.replace("__", "-").replace("_", "-")

    @property
    def env(self) -> str:
        return "PANDA_" + self.param.replace("__", "_").upper()

    @property
    def param(self) -> str:
        """The click parameter name: `kafka__addr` (section and field, split again later)."""
        return f"{self.section}__{self.name}" if self.section else self.name

    @property
    def is_size(self) -> bool:
        """Fields with `bytes` in their name also take sizes such as 100M."""
        return is_size_name(self.name)


def is_size_name(name: str) -> bool:
    return "bytes" in name.split("_")


def option_fields(struct: type[msgspec.Struct], section: str = "") -> list[OptionField]:
    """The fields of a config Struct, in declaration order."""
    hints = typing.get_type_hints(struct, include_extras=True)
    fields = []
    for name in struct.__struct_fields__:
        kind, metas = _unwrap(hints[name])
        description = next((m.description for m in metas if m.description), "")
        extra: dict[str, Any] = {}
        for meta in metas:
            extra.update(meta.extra or {})
        fields.append(OptionField(
            section, name, kind, description, extra.get("unit") or _unit(name, kind),
            ge=next((m.ge for m in metas if m.ge is not None), None),
            le=next((m.le for m in metas if m.le is not None), None),
            aliases=tuple(extra.get("flag_aliases", ()))))
    return fields


def declared_sections(classes: Iterable[type[Service]]) -> dict[str, type[msgspec.Struct]]:
    """section name -> Struct, from the services' `config_type`; several services may share
    a section (same Struct), two Structs under one name are a ConfigError."""
    sections: dict[str, type[msgspec.Struct]] = {}
    owners: dict[str, type] = {}
    for cls in classes:
        struct = cls.config_type
        if struct is None:
            continue
        name = cls.section_name()
        known = sections.setdefault(name, struct)
        if known is not struct:
            raise ConfigError(
                f"config section {name!r} is declared twice: {_qualname(known)} by "
                f"{owners[name].__name__}, {_qualname(struct)} by {cls.__name__} - at $.{name}")
        if name not in owners:
            check_section(name, struct)
            owners[name] = cls
    return sections


def check_section(name: str, struct: type) -> None:
    """A section refuses unknown keys, and each field has a default and a description."""
    where = f"{_qualname(struct)} - at $.{name}"
    if not _SECTION_NAME.match(name):
        raise ConfigError(f"config section name {name!r} is not lower_case: {where}")
    if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
        raise ConfigError(f"config_type is not a msgspec.Struct: {where}")
    if not struct.__struct_config__.forbid_unknown_fields:
        raise ConfigError(f"config section needs forbid_unknown_fields=True: {where}")
    if len(struct.__struct_defaults__) != len(struct.__struct_fields__):
        raise ConfigError(f"every field of a config section needs a default: {where}")
    for field in option_fields(struct, name):
        if not field.description:
            raise ConfigError(f"field {field.name!r} has no msgspec.Meta(description=...): "
                              f"{where}.{field.name}")


def _unwrap(hint: Any) -> tuple[Any, list[msgspec.Meta]]:
    """Annotated[...] and `X | None` peeled off: (X, the Meta annotations met on the way)."""
    metas: list[msgspec.Meta] = []
    while True:
        if typing.get_origin(hint) is Annotated:
            metas.extend(m for m in hint.__metadata__ if isinstance(m, msgspec.Meta))
            hint = typing.get_args(hint)[0]
            continue
        args = typing.get_args(hint)
        if typing.get_origin(hint) in (Union, types.UnionType) and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1:
                hint = rest[0]
                continue
        return hint, metas


def _unit(name: str, kind: Any) -> str | None:
    """The unit a field's name ends in (`request_bytes_max` -> bytes), or what it holds."""
    if kind is bool:
        return None
    for word in reversed(name.split("_")):
        if word in _UNIT_WORDS:
            return _UNIT_WORDS[word]
    if name == "addr" or name.endswith("_addr"):
        return "host:port"
    if name == "dir" or name.endswith("_dir"):
        return "path"
    return None


def _qualname(struct: Any) -> str:
    return f"{getattr(struct, '__module__', '?')}.{getattr(struct, '__qualname__', struct)}"
