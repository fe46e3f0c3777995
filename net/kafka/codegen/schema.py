"""Reads the Kafka message specs (JSON with // comments) into a small typed model.

Owns the meaning of every spec attribute the generator uses (versions, nullable,
tagged, flexible, defaults, struct references). Pure: no code emission here.
"""

from __future__ import annotations

import json
import keyword
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

SPEC_DIR_ENV = "KAFKA_MESSAGES_DIR"
PRIMITIVES_FIXED = {
    "bool": ("?", 1), "int8": ("b", 1), "int16": ("h", 2), "uint16": ("H", 2),
    "int32": ("i", 4), "uint32": ("I", 4), "int64": ("q", 8), "float64": ("d", 8),
    "uuid": ("16s", 16),
}
PRIMITIVES_VAR = {"string", "bytes", "records"}
RESERVED_NAMES = {"unknown_tagged_fields", "encode", "decode"}
VERSION_MAX = 0x7FFF


@dataclass(frozen=True)
class Versions:
    """An inclusive version range; hi is VERSION_MAX for 'N+', empty when lo > hi."""

    lo: int
    hi: int

    @staticmethod
    def parse(text: str | None) -> Versions:
        if text is None or text == "none":
            return Versions(1, 0)
        if text.endswith("+"):
            return Versions(int(text[:-1]), VERSION_MAX)
        if "-" in text:
            lo, hi = text.split("-")
            return Versions(int(lo), int(hi))
        return Versions(int(text), int(text))

    def __contains__(self, version: int) -> bool:
        return self.lo <= version <= self.hi


@dataclass
class Field:
    name: str          # spec name, PascalCase
    py_name: str       # snake_case attribute
    type: str          # element type for arrays: int32, string, or a struct name
    is_array: bool
    versions: Versions
    nullable: Versions
    tagged: Versions
    tag: int | None
    flexible: Versions | None   # per-field override of the message's flexible versions
    default: object
    struct: StructDef | None = None

    @property
    def is_struct(self) -> bool:
        return self.struct is not None

    @property
    def struct_def(self) -> StructDef:
        """The element struct of a struct field (callers check `is_struct` first)."""
        assert self.struct is not None, f"field {self.name} is not a struct"
        return self.struct

    def element(self) -> Field:
        """The field as one element of its array: not an array, never null."""
        return replace(self, is_array=False, nullable=Versions(1, 0))

    def tagged_in(self, version: int) -> bool:
        return self.tag is not None and version in self.tagged


@dataclass
class StructDef:
    name: str
    fields: list[Field]
    versions: Versions


@dataclass
class Message:
    name: str
    kind: str                      # request | response | header | data
    api_key: int | None
    valid: Versions
    flexible: Versions
    root: StructDef
    structs: dict[str, StructDef] = field(default_factory=dict)   # nested, by name
    listeners: tuple[str, ...] = ()
    latest_unstable: bool = False
    source: str = ""

    def is_flexible(self, version: int) -> bool:
        return version in self.flexible

    def versions(self) -> range:
        return range(self.valid.lo, self.valid.hi + 1)


def snake(name: str) -> str:
    """PascalCase spec name -> snake_case attribute name."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()
    if keyword.iskeyword(s):
        s += "_"
    assert s not in RESERVED_NAMES, name
    return s


def strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def spec_dir(repo_root: Path) -> Path:
    return Path(os.environ.get(SPEC_DIR_ENV) or repo_root.parent / "shared/kafka-protocol/messages")


def load_all(directory: Path) -> list[Message]:
    return [load_message(p) for p in sorted(directory.glob("*.json"))]


def load_message(path: Path) -> Message:
    raw = json.loads(strip_comments(path.read_text(encoding="utf-8")))
    valid = Versions.parse(raw["validVersions"])
    flexible = Versions.parse(raw.get("flexibleVersions"))
    pending: dict[str, StructDef] = {}
    common = {c["name"]: c for c in raw.get("commonStructs", [])}
    for name, spec in common.items():
        pending[name] = StructDef(name, [], Versions.parse(spec.get("versions", "0+")))
    root = StructDef(raw["name"], [], valid)
    root.fields = [_field(f, pending) for f in raw["fields"]]
    for name, spec in common.items():
        pending[name].fields = [_field(f, pending) for f in spec["fields"]]
    _resolve(root, pending)
    for s in list(pending.values()):
        _resolve(s, pending)
    return Message(
        name=raw["name"], kind=raw["type"], api_key=raw.get("apiKey"), valid=valid,
        flexible=flexible, root=root, structs=pending,
        listeners=tuple(raw.get("listeners", ())),
        latest_unstable=bool(raw.get("latestVersionUnstable", False)), source=path.name,
    )


def _field(spec: dict, structs: dict[str, StructDef]) -> Field:
    ftype = spec["type"]
    is_array = ftype.startswith("[]")
    elem = ftype[2:] if is_array else ftype
    versions = Versions.parse(spec["versions"])
    f = Field(
        name=spec["name"], py_name=snake(spec["name"]), type=elem, is_array=is_array,
        versions=versions, nullable=Versions.parse(spec.get("nullableVersions")),
        tagged=Versions.parse(spec.get("taggedVersions")), tag=spec.get("tag"),
        flexible=Versions.parse(spec["flexibleVersions"]) if "flexibleVersions" in spec else None,
        default=spec.get("default"),
    )
    if "fields" in spec:
        assert elem not in structs, f"struct {elem} defined twice"
        sdef = StructDef(elem, [], versions)
        structs[elem] = sdef
        sdef.fields = [_field(sub, structs) for sub in spec["fields"]]
    return f


def _resolve(sdef: StructDef, structs: dict[str, StructDef]) -> None:
    for f in sdef.fields:
        if f.type in PRIMITIVES_FIXED or f.type in PRIMITIVES_VAR:
            continue
        f.struct = structs[f.type]
