"""Emits the per-version size and write functions of one message module.

Owns the shape of generated writers: `_s_<Message>_v<N>(o) -> int` budgets the encoded
size (strings at one byte per character), `_w_<Message>_v<N>(o, buf, pos) -> pos` fills
the preallocated bytearray with precompiled Structs, every nested struct inlined. A
string that encodes longer than its budget replaces exactly its budgeted range, so the
buffer grows by the difference and stays exact. Tagged fields are written only when they
differ from their default.
"""

from __future__ import annotations

from panda.net.kafka.codegen.base import EmitterBase
from panda.net.kafka.codegen.schema import Field, StructDef
from panda.net.kafka.codegen.values import default_literal, fixed_size, is_fixed

VARINT_BYTES_MAX = 5


class EncodeEmitter(EmitterBase):
    # ---- size ------------------------------------------------------------------------

    def size_fn(self, sd: StructDef, v: int) -> str:
        key = ("s", sd.name, v)
        if key not in self.names:
            saved = self.begin_fn()
            lines = ["    n = 0"]
            const = self.size_struct(sd, v, "o", lines, "    ", "n")
            lines.append(f"    return n + {const}")
            self.define(key, "o", lines)
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

    def size_struct(self, sd: StructDef, v: int, obj: str, lines, ind: str, acc: str) -> int:
        """Emit the variable part of a struct's budget into acc; return the constant part.
        Length prefixes count at their largest (5 bytes for a varint): the encoder trims
        the unused tail, so an over-estimate costs nothing but a few bytes of capacity."""
        const = 0
        for f in self.present(sd, v, tagged=False):
            if is_fixed(f.type) and not f.is_array:
                const += fixed_size(f.type)
                continue
            x = self.tmp()
            lines.append(f"{ind}{x} = {obj}.{f.py_name}")
            const += self.size_value(f, v, x, lines, ind, acc, nullable=v in f.nullable)
        if self.flex(v):
            cond = self.tagged_condition(sd, v, obj)
            fn = self.tagged_items_fn(sd, v)
            lines.append(f"{ind}if {cond}:")
            lines.append(f"{ind}    {acc} += size_tagged_section({fn}({obj}), "
                         f"{obj}.unknown_tagged_fields)")
            const += 1
        return const

    def prefix_bound(self, f: Field, v: int) -> int:
        if f.is_struct and not f.is_array:
            return 1 if v in f.nullable else 0
        if self.field_flex(f, v):
            return VARINT_BYTES_MAX
        return 2 if f.type == "string" and not f.is_array else 4

    def size_value(self, f: Field, v: int, x: str, lines, ind: str, acc: str,
                   nullable: bool) -> int:
        """Budget field value x (bound to a variable): emit its variable part, return its
        constant part."""
        if is_fixed(f.type) and not f.is_array:
            return fixed_size(f.type)
        const = self.prefix_bound(f, v)
        body: list[str] = []
        inner = ind + "    " if nullable else ind
        if f.is_array:
            self.size_array(f, v, x, body, inner, acc)
        elif f.is_struct:
            child = self.size_struct(f.struct_def, v, x, body, inner, acc)
            if nullable:
                body.append(f"{inner}{acc} += {child}")
            else:
                const += child
        else:
            body.append(f"{inner}{acc} += len({x})")
        if body and nullable:
            lines.append(f"{ind}if {x} is not None:")
        lines += body
        return const

    def size_array(self, f: Field, v: int, x: str, lines, ind: str, acc: str) -> None:
        """Variable part of an array's budget (its prefix is in the caller's constant)."""
        fixed = fixed_size(f.type) if is_fixed(f.type) else \
            self.fixed_struct_size(f.struct_def, v) if f.is_struct else None
        if fixed is not None:
            lines.append(f"{ind}{acc} += {fixed} * len({x})")
            return
        if not f.is_struct:
            each = self.prefix_bound(f.element(), v)
            lines.append(f"{ind}{acc} += sum(map(len, {x})) + {each} * len({x})")
            return
        elem = self.tmp()
        body: list[str] = []
        child = self.size_struct(f.struct_def, v, elem, body, ind + "    ", acc)
        if child:
            lines.append(f"{ind}{acc} += {child} * len({x})")
        if body:
            lines.append(f"{ind}for {elem} in {x}:")
            lines += body

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
        group: list[tuple[str, str]] = []  # (struct char, value expression)
        for f in self.present(sd, v, tagged=False):
            if is_fixed(f.type) and not f.is_array:
                val = f"{obj}.{f.py_name}" + (".int.to_bytes(16)" if f.type == "uuid" else "")
                group.append((self.char(f.type), val))
                continue
            x = self.tmp()
            lines.append(f"{ind}{x} = {obj}.{f.py_name}")
            fused = self.fusable_prefix(f, v)
            if fused:
                self.write_fused(f, v, x, fused, group, lines, ind)
                continue
            self.flush_write_group(group, lines, ind)
            self.write_value(f, v, x, lines, ind, nullable=v in f.nullable)
        self.flush_write_group(group, lines, ind)
        if self.flex(v):
            self.write_tagged_section(sd, v, obj, lines, ind)

    def fusable_prefix(self, f: Field, v: int) -> str:
        """Length prefix that can join the preceding fixed-width pack ('' if none)."""
        if self.field_flex(f, v) or (f.is_struct and not f.is_array):
            return ""
        return "h" if f.type == "string" and not f.is_array else "i"

    def write_fused(self, f: Field, v: int, x: str, char: str, group, lines, ind: str) -> None:
        """Non-compact value whose length (-1 for null) joins the pending fixed-width pack."""
        nullable = v in f.nullable
        data = x
        if f.type == "string" and not f.is_array:
            data = self.tmp()
            encoded = f"None if {x} is None else {x}.encode()" if nullable else f"{x}.encode()"
            lines.append(f"{ind}{data} = {encoded}")
        size = f"-1 if {data} is None else len({data})" if nullable else f"len({data})"
        group.append((char, size))
        self.flush_write_group(group, lines, ind)
        if nullable:
            lines.append(f"{ind}if {x} is not None:")
            ind += "    "
        self.write_body(f, v, x, data, lines, ind)

    def flush_write_group(self, group: list[tuple[str, str]], lines, ind: str) -> None:
        if not group:
            return
        fmt = self.fmt("".join(c for c, _ in group))
        lines.append(f"{ind}{fmt}.pack_into(buf, pos, {', '.join(e for _, e in group)})")
        lines.append(f"{ind}pos += {sum(_char_size(c) for c, _ in group)}")
        group.clear()

    def write_value(self, f: Field, v: int, x: str, lines: list[str], ind: str,
                    nullable: bool) -> None:
        """Write field value x (bound to a variable), prefix included."""
        if is_fixed(f.type) and not f.is_array:
            val = f"{x}.int.to_bytes(16)" if f.type == "uuid" else x
            self.flush_write_group([(self.char(f.type), val)], lines, ind)
            return
        single_struct = f.is_struct and not f.is_array
        if nullable:
            lines.append(f"{ind}if {x} is None:")
            self.write_null(f, v, lines, ind + "    ")
            lines.append(f"{ind}else:")
            ind += "    "
        if single_struct:
            if nullable:
                lines += [f"{ind}buf[pos] = 1", f"{ind}pos += 1"]
            self.write_struct(f.struct_def, v, x, lines, ind)
        elif self.field_flex(f, v):
            self.write_compact(f, v, x, lines, ind)
        else:
            data = x
            if f.type == "string" and not f.is_array:
                data = self.tmp()
                lines.append(f"{ind}{data} = {x}.encode()")
            char = "h" if f.type == "string" and not f.is_array else "i"
            self.flush_write_group([(char, f"len({data})")], lines, ind)
            self.write_body(f, v, x, data, lines, ind)

    def write_null(self, f: Field, v: int, lines: list[str], ind: str) -> None:
        if f.is_struct and not f.is_array:
            lines += [f"{ind}buf[pos] = 0xFF", f"{ind}pos += 1"]
        elif self.field_flex(f, v):
            lines += [f"{ind}pos += 1  # null: the buffer is zero-filled"]
        else:
            char = "h" if f.type == "string" and not f.is_array else "i"
            self.flush_write_group([(char, "-1")], lines, ind)

    def write_compact(self, f: Field, v: int, x: str, lines: list[str], ind: str) -> None:
        """Compact string/bytes/records/array: varint length + 1, then the body."""
        size = self.tmp()
        if f.type == "string" and not f.is_array:
            data = self.tmp()
            lines.append(f"{ind}{data} = {x}.encode()")
            lines.append(f"{ind}{size} = len({data})")
            lines.append(f"{ind}if {size} < 0x7F:")
            lines.append(f"{ind}    buf[pos] = {size} + 1")
            lines.append(f"{ind}    buf[pos + 1:pos + 1 + len({x})] = {data}")
            lines.append(f"{ind}    pos += 1 + {size}")
            lines.append(f"{ind}else:")
            lines.append(f"{ind}    pos = write_cstring_long(buf, pos, {x}, {data})")
            return
        lines.append(f"{ind}{size} = len({x})")
        lines.append(f"{ind}if {size} < 0x7F:")
        lines.append(f"{ind}    buf[pos] = {size} + 1")
        lines.append(f"{ind}    pos += 1")
        if not f.is_array:
            lines.append(f"{ind}elif {size} < 0x3FFF:")
            lines.append(f"{ind}    buf[pos] = (({size} + 1) & 0x7F) | 0x80")
            lines.append(f"{ind}    buf[pos + 1] = ({size} + 1) >> 7")
            lines.append(f"{ind}    pos += 2")
        lines.append(f"{ind}else:")
        lines.append(f"{ind}    pos = write_uvarint(buf, pos, {size} + 1)")
        self.write_body(f, v, x, x, lines, ind)

    def write_body(self, f: Field, v: int, x: str, data: str, lines, ind: str) -> None:
        """Everything after the length prefix: bytes, string data, or array elements."""
        if f.is_array:
            self.write_elements(f, v, x, lines, ind)
        elif f.type == "string":
            lines.append(f"{ind}buf[pos:pos + len({x})] = {data}")
            lines.append(f"{ind}pos += len({data})")
        else:
            lines.append(f"{ind}buf[pos:pos + len({x})] = {x}")
            lines.append(f"{ind}pos += len({x})")

    def write_elements(self, f: Field, v: int, var: str, lines: list[str], ind: str) -> None:
        if is_fixed(f.type) and f.type != "uuid":
            char = self.char(f.type)
            lines.append(f"{ind}(_A{_ARRAY_NAMES[char]}[len({var})] if len({var}) <= "
                         f"ARRAY_STRUCTS_MAX else array_struct({char!r}, len({var})))"
                         f".pack_into(buf, pos, *{var})")
            lines.append(f"{ind}pos += {fixed_size(f.type)} * len({var})")
            return
        elem = self.tmp()
        lines.append(f"{ind}for {elem} in {var}:")
        if f.is_struct and self.shape_fields(f.struct_def, v) is not None:
            self.write_shaped(f.struct_def, v, elem, lines, ind + "    ")
            return
        self.write_value(f.element(), v, elem, lines, ind + "    ", nullable=False)

    def write_shaped(self, sd: StructDef, v: int, obj: str, lines, ind: str) -> None:
        """One pack per element when every array length fits a one-byte varint and no
        tagged field is set; the general inline writer otherwise."""
        fields = self.shape_fields(sd, v)
        assert fields is not None
        template, args, arrays = "", [], []
        for f in fields:
            if not f.is_array:
                template += self.char(f.type)
                as_bytes = ".int.to_bytes(16)" if f.type == "uuid" else ""
                args.append(f"{obj}.{f.py_name}{as_bytes}")
                continue
            x = self.tmp()
            arrays.append((x, self.field_flex(f, v)))
            lines.append(f"{ind}{x} = {obj}.{f.py_name}")
            template += ("B" if self.field_flex(f, v) else "i") + "%d" + self.char(f.type)
            args += [f"len({x}) + 1" if self.field_flex(f, v) else f"len({x})", f"*{x}"]
        conds = [f"len({x}) < 0x7F" for x, flex in arrays if flex]
        if self.flex(v):
            template += "x"  # empty tagged section: a zero byte
            conds.append(f"not ({self.tagged_condition(sd, v, obj)})")
        cache = self.shape_cache(sd, template)
        packer = self.tmp()
        lens = ", ".join(f"len({x})" for x, _ in arrays) + ","
        lines.append(f"{ind}if {' and '.join(conds) or 'True'}:")
        lines.append(f"{ind}    {packer} = shape_struct({cache}, {template!r}, ({lens}))")
        lines.append(f"{ind}    {packer}.pack_into(buf, pos, {', '.join(args)})")
        lines.append(f"{ind}    pos += {packer}.size")
        lines.append(f"{ind}else:")
        self.write_struct(sd, v, obj, lines, ind + "    ")

    def tagged_condition(self, sd: StructDef, v: int, obj: str) -> str:
        """Expression true when the tagged section is not empty."""
        parts = [f"{obj}.unknown_tagged_fields"]
        for f in self.present(sd, v, tagged=True):
            parts.append(self.differs(f, f"{obj}.{f.py_name}"))
        return " or ".join(parts)

    def differs(self, f: Field, x: str) -> str:
        lit = default_literal(f)
        if lit == "None":
            return f"{x} is not None"
        if f.is_struct and not f.is_array:
            return f"{x} != {self.default_const(f.struct_def)}"
        return f"{x} != {lit}"

    def write_tagged_section(self, sd: StructDef, v: int, obj: str, lines, ind: str) -> None:
        cond = self.tagged_condition(sd, v, obj)
        fn = self.tagged_items_fn(sd, v)
        lines.append(f"{ind}if {cond}:")
        lines.append(f"{ind}    pos = write_tagged_section(buf, pos, {fn}({obj}), "
                     f"{obj}.unknown_tagged_fields)")
        lines.append(f"{ind}else:")
        lines.append(f"{ind}    pos += 1  # no tagged fields: the buffer is zero-filled")

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
            lines.append("        n = 0")
            const = self.size_value(f, v, x, lines, "        ", "n", nullable=v in f.nullable)
            lines.append(f"        buf = bytearray(n + {const})")
            lines.append("        pos = 0")
            self.write_value(f, v, x, lines, "        ", nullable=v in f.nullable)
            lines.append(f"        items.append(({f.tag}, bytes(buf[:pos])))")
        lines.append("    return items")
        self.define(key, "o", lines)
        self.end_fn(saved)
        return self.names[key]


_ARRAY_NAMES = {"?": "o", "b": "b", "B": "B", "h": "h", "H": "H", "i": "i", "I": "I",
                "q": "q", "d": "d"}


def _char_size(char: str) -> int:
    return 16 if char == "16s" else {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4,
                                     "q": 8, "d": 8}[char]
