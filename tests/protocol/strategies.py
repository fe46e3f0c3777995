"""Hypothesis strategies for any generated message at any version, built from the SCHEMA
metadata the generator writes next to each message type (no spec files needed)."""

from __future__ import annotations

from types import ModuleType

from hypothesis import strategies as st

from panda.net.kafka import codec

LIST_SIZE_MAX = 3
UNKNOWN_TAG_MIN = 10_000  # above every tag the specs use
_INT_RANGES = {
    "int8": (-(1 << 7), (1 << 7) - 1), "int16": (-(1 << 15), (1 << 15) - 1),
    "uint16": (0, (1 << 16) - 1), "int32": (-(1 << 31), (1 << 31) - 1),
    "uint32": (0, (1 << 32) - 1), "int64": (-(1 << 63), (1 << 63) - 1),
}
_SCALAR_TYPES = {*_INT_RANGES, "bool", "float64", "uuid", "string", "bytes", "records"}
_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)


def _scalar(ftype: str) -> st.SearchStrategy:
    if ftype in _INT_RANGES:
        lo, hi = _INT_RANGES[ftype]
        return st.integers(lo, hi)
    return {
        "bool": st.booleans(), "float64": st.floats(allow_nan=False), "uuid": st.uuids(),
        "string": _TEXT, "bytes": st.binary(max_size=8), "records": st.binary(max_size=16),
    }[ftype]


def _unknown_tags() -> st.SearchStrategy:
    pairs = st.lists(st.tuples(st.integers(UNKNOWN_TAG_MIN, UNKNOWN_TAG_MIN + 50),
                               st.binary(max_size=4)),
                     max_size=2, unique_by=lambda p: p[0])
    return st.none() | pairs.map(lambda items: sorted(items) or None)


def message_strategy(name: str, version: int, unknown_tags: bool = True) -> st.SearchStrategy:
    """Random valid `name` messages at `version`; unknown_tags adds tagged fields no spec
    defines (a peer's newer fields), which must survive a round trip."""
    entry = codec(name)
    flexible = entry.flexible_min is not None and version >= entry.flexible_min
    return _struct(entry.module, entry.message, version, flexible and unknown_tags, flexible)


def _struct(mod: ModuleType, cls: type, version: int, unknown: bool,
            flexible: bool) -> st.SearchStrategy:
    fields = {}
    for py_name, ftype, is_array, (vlo, vhi), (nlo, nhi), tag, (tlo, thi), _flex in \
            mod.SCHEMA[cls]:
        if not vlo <= version <= vhi:
            continue
        if tag is not None and tlo <= version <= thi and not flexible:
            continue
        elem = _elem(mod, ftype, version, unknown, flexible)
        value = st.lists(elem, max_size=LIST_SIZE_MAX) if is_array else elem
        absent_is_none = tag is not None and not is_array and ftype not in _SCALAR_TYPES
        if nlo <= version <= nhi or absent_is_none:
            value = st.none() | value
        fields[py_name] = value
    if "unknown_tagged_fields" in cls.__struct_fields__ and unknown:
        fields["unknown_tagged_fields"] = _unknown_tags()
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


def _elem(mod: ModuleType, ftype: str, version: int, unknown: bool,
          flexible: bool) -> st.SearchStrategy:
    sub = getattr(mod, ftype, None)
    if isinstance(sub, type) and sub in mod.SCHEMA:
        return st.deferred(lambda: _struct(mod, sub, version, unknown, flexible))
    return _scalar(ftype)
