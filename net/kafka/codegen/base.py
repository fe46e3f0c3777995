"""State shared by the code emitters of one message module: struct formats, temp
names, de-duplicated function table, version predicates.

Owns naming and de-duplication; emits no field code itself.
"""

from __future__ import annotations

from panda.net.kafka.codegen.schema import Field, Message, StructDef
from panda.net.kafka.codegen.values import is_fixed, struct_char

_FMT_NAMES = {"?": "o", "16s": "u", "x": "_"}


class EmitterBase:
    """State and small helpers shared by the decode and encode emitters."""

    def __init__(self, msg: Message) -> None:
        self.msg = msg
        self.formats: dict[str, str] = {}
        self.functions: list[str] = []
        self.by_body: dict[tuple[str, str], str] = {}
        self.names: dict[tuple[str, str, int], str] = {}
        self.defaults: dict[str, str] = {}
        self.shape_templates: dict[str, str] = {}
        self.counter = 0
        self.fmt("i")

    # ---- shared helpers for the emitters ---------------------------------------------------

    def fmt(self, chars: str) -> str:
        name = "_S_" + "".join(_FMT_NAMES.get(c, c) for c in _split(chars))
        self.formats[name] = chars
        return name

    def char(self, ftype: str) -> str:
        return struct_char(ftype)

    def tmp(self) -> str:
        self.counter += 1
        return f"_{self.counter}"

    def begin_fn(self) -> int:
        saved, self.counter = self.counter, 0
        return saved

    def end_fn(self, saved: int) -> None:
        self.counter = saved

    def define(self, key: tuple[str, str, int], params: str, lines: list[str]) -> None:
        body = "\n".join(lines)
        dedup = (params, body)
        name = self.by_body.get(dedup)
        if name is None:
            kind, sname, v = key
            name = f"_{kind}_{sname}_v{v}"
            self.by_body[dedup] = name
            self.functions.append(f"def {name}({params}):\n{body}\n")
        self.names[key] = name

    def flex(self, v: int) -> bool:
        return self.msg.is_flexible(v)

    def field_flex(self, f: Field, v: int) -> bool:
        return v in f.flexible if f.flexible is not None else self.flex(v)

    def present(self, sd: StructDef, v: int, tagged: bool) -> list[Field]:
        flex = self.flex(v)
        return [f for f in sd.fields
                if v in f.versions and (flex and f.tagged_in(v)) == tagged]

    def is_leaf(self, sd: StructDef, v: int) -> bool:
        return not any(f.is_struct for f in self.present(sd, v, tagged=False))

    def has_unknown(self, sd: StructDef) -> bool:
        return self.msg.flexible.lo <= self.msg.flexible.hi

    def shape_fields(self, sd: StructDef, v: int) -> list[Field] | None:
        """Fields of an element made only of fixed scalars and primitive arrays (with at
        least one array): such an element packs with one Struct per array-length shape."""
        fields = self.present(sd, v, tagged=False)
        for f in fields:
            scalar = is_fixed(f.type) and not f.is_array
            prim_array = f.is_array and is_fixed(f.type) and f.type != "uuid" \
                and v not in f.nullable
            if not (scalar or prim_array):
                return None
        return fields if any(f.is_array for f in fields) else None

    def shape_cache(self, sd: StructDef, template: str) -> str:
        """One cache per (struct, layout template)."""
        prefix = f"_SHAPES_{sd.name}_"
        for name, layout in self.shape_templates.items():
            if layout == template and name.startswith(prefix):
                return name
        name = f"{prefix}{sum(n.startswith(prefix) for n in self.shape_templates)}"
        self.shape_templates[name] = template
        self.defaults[name] = "{}"
        return name

    # ---- tagged fields ---------------------------------------------------------------

    def default_const(self, sd: StructDef) -> str:
        name = f"_DEFAULT_{sd.name}"
        self.defaults[name] = f"{sd.name}()"
        return name


def _split(chars: str) -> list[str]:
    out, i = [], 0
    while i < len(chars):
        if chars.startswith("16s", i):
            out.append("16s")
            i += 3
        else:
            out.append(chars[i])
            i += 1
    return out
