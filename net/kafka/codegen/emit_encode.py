"""Emits the per-version size and write functions of one message module.

Owns the shape of generated writers: `_s_<Struct>_v<N>(o) -> int` computes the exact
encoded size, `_w_<Struct>_v<N>(o, buf, pos) -> pos` fills a preallocated bytearray with
precompiled Structs. Tagged fields are written only when they differ from their default.
"""

from __future__ import annotations

from panda.net.kafka.codegen.base import EmitterBase
from panda.net.kafka.codegen.schema import Field, StructDef
from panda.net.kafka.codegen.values import default_literal, fixed_size, helper_suffix, is_fixed


class EncodeEmitter(EmitterBase):
    """Encode half of a ModuleEmitter (mixin); see DecodeEmitter for the shared helpers."""

    # ---- size ------------------------------------------------------------------------

    def size_fn(self, sd: StructDef, v: int) -> str:
        key = ("s", sd.name, v)
        if key not in self.names:
            saved = self.begin_fn()
            const, terms = self.size_terms(sd, v, "o")
            expr = " + ".join([str(const)] + terms)
            self.define(key, "o", [f"    return {expr}"])
            self.end_fn(saved)
        return self.names[key]

    def fixed_struct_size(self, sd: StructDef, v: int) -> int | None:
        """Encoded size when it cannot vary with the values, else None."""
        if self.flex(v):
            return None
        total = 0
        for f in self.present(sd, v, tagged=False):
            if f.is_array or not is_fixed(f.type):
                return None
            total += fixed_size(f.type)
        return total

    def size_terms(self, sd: StructDef, v: int, obj: str) -> tuple[int, list[str]]:
        const, terms = 0, []
        for f in self.present(sd, v, tagged=False):
            if is_fixed(f.type) and not f.is_array:
                const += fixed_size(f.type)
            else:
                terms.append(self.size_value(f, v, f"{obj}.{f.py_name}"))
        if self.flex(v):
            cond = self.tagged_condition(sd, v, obj)
            if cond:
                fn = self.tagged_items_fn(sd, v)
                terms.append(f"(size_tagged_section({fn}({obj}), {obj}.unknown_tagged_fields)"
                             f" if {cond} else 1)")
            else:
                const += 1
        return const, terms

    def size_value(self, f: Field, v: int, x: str) -> str:
        if f.is_array:
            return self.size_array(f, v, x)
        return self.size_elem(f, v, x, nullable=v in f.nullable)

    def size_elem(self, f: Field, v: int, x: str, nullable: bool) -> str:
        if is_fixed(f.type):
            return str(fixed_size(f.type))
        if not f.is_struct:
            return f"{self.sizer(f, v)}({x})"
        inner = f"{self.size_fn(f.struct, v)}({x})"
        return f"(1 if {x} is None else 1 + {inner})" if nullable else inner

    def size_array(self, f: Field, v: int, x: str) -> str:
        if self.field_flex(f, v):
            prefix = f"size_uvarint(len({x}) + 1)"
        else:
            prefix = "4"
        if is_fixed(f.type):
            body = f"{prefix} + {fixed_size(f.type)} * len({x})"
        elif f.is_struct:
            fixed = self.fixed_struct_size(f.struct, v)
            each = f"{fixed} * len({x})" if fixed is not None else \
                f"sum(map({self.size_fn(f.struct, v)}, {x}))"
            body = f"{prefix} + {each}"
        else:
            body = f"{prefix} + sum(map({self.sizer(f, v, elem=True)}, {x}))"
        if v in f.nullable:
            null = "1" if self.field_flex(f, v) else "4"
            return f"({null} if {x} is None else {body})"
        return f"({body})"

    def sizer(self, f: Field, v: int, elem: bool = False) -> str:
        return "size_" + self.helper(f, v, elem)

    def writer(self, f: Field, v: int, elem: bool = False) -> str:
        return "write_" + self.helper(f, v, elem)

    def helper(self, f: Field, v: int, elem: bool) -> str:
        suffix = helper_suffix(f, v, self.field_flex(f, v))
        if elem:
            suffix = suffix.replace("n", "")
        kind = "string" if f.type == "string" else "bytes"
        return f"{suffix}{kind}"

    # ---- write -----------------------------------------------------------------------

    def write_fn(self, sd: StructDef, v: int) -> str:
        key = ("w", sd.name, v)
        if key not in self.names:
            saved = self.begin_fn()
            lines: list[str] = []
            self.write_struct(sd, v, "o", lines, "    ")
            lines.append("    return pos")
            self.define(key, "o, buf, pos", lines)
            self.end_fn(saved)
        return self.names[key]

    def write_struct(self, sd: StructDef, v: int, obj: str, lines: list[str], ind: str) -> None:
        group: list[Field] = []
        for f in self.present(sd, v, tagged=False):
            if is_fixed(f.type) and not f.is_array:
                group.append(f)
                continue
            self.flush_write_group(group, obj, lines, ind)
            self.write_value(f, v, f"{obj}.{f.py_name}", lines, ind)
        self.flush_write_group(group, obj, lines, ind)
        if self.flex(v):
            self.write_tagged_section(sd, v, obj, lines, ind)

    def flush_write_group(self, group: list[Field], obj: str, lines, ind: str) -> None:
        if not group:
            return
        fmt = self.fmt("".join(self.char(f.type) for f in group))
        vals = ", ".join(f"{obj}.{f.py_name}" + (".bytes" if f.type == "uuid" else "")
                         for f in group)
        lines.append(f"{ind}{fmt}.pack_into(buf, pos, {vals})")
        lines.append(f"{ind}pos += {sum(fixed_size(f.type) for f in group)}")
        group.clear()

    def write_value(self, f: Field, v: int, x: str, lines: list[str], ind: str) -> None:
        if f.is_array:
            self.write_array(f, v, x, lines, ind)
        else:
            self.write_elem(f, v, x, lines, ind, nullable=v in f.nullable)

    def write_elem(self, f: Field, v: int, x: str, lines, ind: str, nullable: bool) -> None:
        if is_fixed(f.type):
            val = f"{x}.bytes" if f.type == "uuid" else x
            lines.append(f"{ind}{self.fmt(self.char(f.type))}.pack_into(buf, pos, {val})")
            lines.append(f"{ind}pos += {fixed_size(f.type)}")
            return
        if not f.is_struct:
            lines.append(f"{ind}pos = {self.writer(f, v, elem=not nullable)}(buf, pos, {x})")
            return
        if nullable:
            var = self.tmp()
            lines.append(f"{ind}{var} = {x}")
            lines.append(f"{ind}if {var} is None:")
            lines.append(f"{ind}    buf[pos] = 0xFF")
            lines.append(f"{ind}    pos += 1")
            lines.append(f"{ind}else:")
            lines.append(f"{ind}    buf[pos] = 1")
            lines.append(f"{ind}    pos += 1")
            x, ind = var, ind + "    "
        if self.is_leaf(f.struct, v) and x.isidentifier():
            self.write_struct(f.struct, v, x, lines, ind)
        else:
            lines.append(f"{ind}pos = {self.write_fn(f.struct, v)}({x}, buf, pos)")

    def write_array(self, f: Field, v: int, x: str, lines: list[str], ind: str) -> None:
        var = self.tmp()
        lines.append(f"{ind}{var} = {x}")
        flex = self.field_flex(f, v)
        if v in f.nullable:
            lines.append(f"{ind}if {var} is None:")
            if flex:
                lines += [f"{ind}    buf[pos] = 0", f"{ind}    pos += 1"]
            else:
                lines += [f"{ind}    _S_i.pack_into(buf, pos, -1)", f"{ind}    pos += 4"]
            lines.append(f"{ind}else:")
            ind += "    "
        if flex:
            lines.append(f"{ind}pos = write_uvarint(buf, pos, len({var}) + 1)")
        else:
            lines += [f"{ind}_S_i.pack_into(buf, pos, len({var}))", f"{ind}pos += 4"]
        self.write_elements(f, v, var, lines, ind)

    def write_elements(self, f: Field, v: int, var: str, lines: list[str], ind: str) -> None:
        if is_fixed(f.type) and f.type != "uuid":
            lines.append(f"{ind}pack_into('>%d{self.char(f.type)}' % len({var}), buf, pos, *{var})")
            lines.append(f"{ind}pos += {fixed_size(f.type)} * len({var})")
            return
        elem = self.tmp()
        lines.append(f"{ind}for {elem} in {var}:")
        self.write_elem(f, v, elem, lines, ind + "    ", nullable=False)

    # ---- tagged fields ---------------------------------------------------------------

    def tagged_condition(self, sd: StructDef, v: int, obj: str) -> str:
        """Expression true when the tagged section is not empty; '' when it never is."""
        parts = [f"{obj}.unknown_tagged_fields"]
        for f in self.present(sd, v, tagged=True):
            parts.append(self.differs(f, f"{obj}.{f.py_name}"))
        return " or ".join(parts)

    def differs(self, f: Field, x: str) -> str:
        lit = default_literal(f)
        if lit == "None":
            return f"{x} is not None"
        if f.is_struct and not f.is_array:
            return f"{x} != {self.default_const(f.struct)}"
        return f"{x} != {lit}"

    def write_tagged_section(self, sd: StructDef, v: int, obj: str, lines, ind: str) -> None:
        cond = self.tagged_condition(sd, v, obj)
        fn = self.tagged_items_fn(sd, v)
        lines.append(f"{ind}if {cond}:")
        lines.append(f"{ind}    pos = write_tagged_section(buf, pos, {fn}({obj}), "
                     f"{obj}.unknown_tagged_fields)")
        lines.append(f"{ind}else:")
        lines.append(f"{ind}    buf[pos] = 0")
        lines.append(f"{ind}    pos += 1")

    def tagged_items_fn(self, sd: StructDef, v: int) -> str:
        key = ("ti", sd.name, v)
        if key in self.names:
            return self.names[key]
        saved = self.begin_fn()
        lines = ["    items = []"]
        for f in self.present(sd, v, tagged=True):
            x = self.tmp()
            lines.append(f"    {x} = o.{f.py_name}")
            lines.append(f"    if {self.differs(f, x)}:")
            lines.append(f"        buf = bytearray({self.size_value(f, v, x)})")
            lines.append("        pos = 0")
            self.write_value(f, v, x, lines, "        ")
            lines.append(f"        items.append(({f.tag}, bytes(buf)))")
        lines.append("    return items")
        self.define(key, "o", lines)
        self.end_fn(saved)
        return self.names[key]
