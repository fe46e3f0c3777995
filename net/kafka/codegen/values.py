"""Python spellings of spec types and defaults: annotations, default literals, helper names.

Owns the mapping from a spec field to the Python value it becomes. Pure strings out.
"""

from __future__ import annotations

from panda.net.kafka.codegen.schema import PRIMITIVES_FIXED, Field

_ANNOTATION = {
    "bool": "bool", "int8": "int", "int16": "int", "uint16": "int", "int32": "int",
    "uint32": "int", "int64": "int", "float64": "float", "uuid": "UUID", "string": "str",
    "bytes": "bytes", "records": "memoryview | bytes",
}


def is_fixed(ftype: str) -> bool:
    return ftype in PRIMITIVES_FIXED


def struct_char(ftype: str) -> str:
    return PRIMITIVES_FIXED[ftype][0]


def fixed_size(ftype: str) -> int:
    return PRIMITIVES_FIXED[ftype][1]


def may_be_null(f: Field) -> bool:
    """True when some version can carry null (drives the annotation and default)."""
    return (f.nullable.lo <= f.nullable.hi or f.default == "null" or f.type == "records"
            or absent_is_none(f))


def absent_is_none(f: Field) -> bool:
    """A tagged struct field reads as None when the peer did not send it (Kafka's Java
    classes use a default instance; None is cheaper and says 'absent' plainly)."""
    if f.tag is None or not f.is_struct or f.is_array:
        return False
    assert f.tagged.lo <= f.versions.lo, f"{f.name}: struct tagged in only some versions"
    return True


def annotation(f: Field) -> str:
    elem = f.struct_def.name if f.is_struct else _ANNOTATION[f.type]
    ann = f"list[{elem}]" if f.is_array else elem
    return f"{ann} | None" if may_be_null(f) else ann


def default_literal(f: Field) -> str:
    """Expression for the field's default value; a fresh object for mutable defaults."""
    if f.default == "null" or (f.type == "records" and not f.is_array) or absent_is_none(f):
        return "None"
    if f.is_array:
        return "[]"
    if f.is_struct:
        return f"{f.struct_def.name}()"
    return _scalar_default(f.type, f.default)


def _scalar_default(ftype: str, raw: object) -> str:
    if ftype == "bool":
        return "True" if raw in (True, "true") else "False"
    if ftype == "float64":
        return repr(float(str(raw))) if raw not in (None, "") else "0.0"
    if ftype == "string":
        return repr(raw if raw is not None else "")
    if ftype == "bytes":
        return 'b""'
    if ftype == "uuid":
        return "ZERO_UUID"
    if raw is None or raw == "":
        return "0"
    text = str(raw).strip()
    return str(int(text, 16) if text.lower().lstrip("-").startswith("0x") else int(text))


def class_default(f: Field) -> str:
    """Default as written in the class body (msgspec needs factories for mutables)."""
    lit = default_literal(f)
    if lit == "[]":
        return "msgspec.field(default_factory=list)"
    if f.is_struct and lit != "None":
        return f"msgspec.field(default_factory={f.struct_def.name})"
    return lit


def helper_suffix(f: Field, version: int, flexible: bool) -> str:
    """'', 'n', 'c' or 'nc': which string/bytes reader or writer a field uses."""
    nullable = version in f.nullable or (f.type == "records")
    return ("n" if nullable else "") + ("c" if flexible else "")
