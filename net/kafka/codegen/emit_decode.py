"""Emits the per-version decode functions of one message module.

Owns the shape of generated readers: one `_d_<Message>_v<N>(b, m, pos)` per distinct
wire format with every nested struct inlined; runs of fixed-width fields plus the length
prefix that follows them are read with one precompiled Struct; every length is bounded
by the bytes left before slicing. `b` is the frame (bytes or memoryview), `m` a
memoryview of it that `records` fields are sliced from (never copied). Emits text only.
"""

from __future__ import annotations

from panda.net.kafka.codegen.base import EmitterBase
from panda.net.kafka.codegen.schema import Field, StructDef
from panda.net.kafka.codegen.values import default_literal, fixed_size, is_fixed

Group = list[tuple[str, str]]  # (struct char, target variable)


class DecodeEmitter(EmitterBase):
    def decode_fn(self, sd: StructDef, v: int) -> str:
        key = ("d", sd.name, v)
        if key not in self.names:
            saved = self.begin_fn()
            lines = ["    blen = len(b)"]
            target = self.decode_struct(sd, v, lines, "    ")
            lines.append(f"    return {target}, pos")
            self.define(key, "b, m, pos", lines)
            self.end_fn(saved)
        return self.names[key]

    def decode_struct(self, sd: StructDef, v: int, lines: list[str], ind: str,
                      target: str | None = None) -> str:
        """Emit the reads of one struct inline; returns the variable holding it."""
        args: dict[str, str] = {}
        group: Group = []
        uuids: list[str] = []
        for f in self.present(sd, v, tagged=False):
            var = args[f.py_name] = self.tmp()
            if is_fixed(f.type) and not f.is_array:
                group.append((self.char(f.type), var))
                if f.type == "uuid":
                    uuids.append(var)
                continue
            prefix = self.prefix(f, v, array=f.is_array)
            pvar = self.tmp()
            if prefix:
                group.append((prefix, pvar))
            self.flush_read_group(group, uuids, lines, ind)
            self.decode_after_prefix(f, v, lines, ind, var, pvar, nullable=v in f.nullable)
        self.flush_read_group(group, uuids, lines, ind)
        unknown = self.decode_tagged_section(sd, v, lines, ind, args) if self.flex(v) else None
        ctor = [args.get(f.py_name) or default_literal(f) for f in sd.fields]
        if self.has_unknown(sd):
            ctor.append(unknown or "None")
        target = target or self.tmp()
        lines.append(f"{ind}{target} = {sd.name}({', '.join(ctor)})")
        return target

    def prefix(self, f: Field, v: int, array: bool) -> str:
        """Struct char of the length/null prefix read ahead of a field ('' for none)."""
        if f.is_struct and not array:
            return "b" if v in f.nullable else ""
        if self.field_flex(f, v):
            return "B"  # first byte of an unsigned varint
        if array:
            return "i"
        return "h" if f.type == "string" else "i"

    def flush_read_group(self, group: Group, uuids: list[str], lines: list[str],
                         ind: str) -> None:
        if not group:
            return
        if len(group) == 1 and group[0][0] == "B":
            lines.append(f"{ind}{group[0][1]} = b[pos]")
            lines.append(f"{ind}pos += 1")
            group.clear()
            return
        fmt = self.fmt("".join(c for c, _ in group))
        names = ", ".join(var for _, var in group)
        lines.append(f"{ind}{names}, = {fmt}.unpack_from(b, pos)")
        lines.append(f"{ind}pos += {sum(_char_size(c) for c, _ in group)}")
        for var in uuids:
            lines.append(f"{ind}{var} = uuid_of({var})")
        group.clear()
        uuids.clear()

    def decode_after_prefix(self, f: Field, v: int, lines: list[str], ind: str, var: str,
                            n: str, nullable: bool) -> None:
        """Read field f into var, its prefix (if any) already read into n."""
        if f.is_struct and not f.is_array:
            if nullable:
                lines.append(f"{ind}if {n} < 0:")
                lines.append(f"{ind}    {var} = None")
                lines.append(f"{ind}else:")
                ind += "    "
            self.decode_struct(f.struct_def, v, lines, ind, target=var)
            return
        flex = self.field_flex(f, v)
        if flex and not f.is_array:
            self.decode_compact_value(f, lines, ind, var, n, nullable)
            return
        if flex and f.is_array:
            self.decode_compact_array(f, v, lines, ind, var, n, nullable)
            return
        null_test = f"{n} == 0" if flex else f"{n} < 0"
        lines.append(f"{ind}if {null_test}:")
        if nullable:
            lines.append(f"{ind}    {var} = None")
            lines.append(f"{ind}else:")
            ind += "    "
        else:
            lines.append(f"{ind}    raise null_not_allowed(pos)")
        if flex:
            lines.append(f"{ind}{n} -= 1")
        if f.is_array:
            lines.append(f"{ind}if {n} > blen - pos:")
            lines.append(f"{ind}    raise bad_length(pos, {n})")
            lines.append(f"{ind}if not {n}:")
            lines.append(f"{ind}    {var} = []")
            lines.append(f"{ind}else:")
            ind += "    "
            if f.is_struct and self.vector_slots(f.struct_def, v) is not None:
                self.decode_vector(f.struct_def, v, lines, ind, var, n)
                return
            self.decode_elements(f, v, lines, ind, var, n)
            return
        end = self.tmp()
        lines.append(f"{ind}{end} = pos + {n}")
        lines.append(f"{ind}if {end} > blen:")
        lines.append(f"{ind}    raise bad_length(pos, {n})")
        lines.append(f"{ind}{var} = {_slice_expr(f.type, 'pos', end)}")
        lines.append(f"{ind}pos = {end}")

    def decode_compact_array(self, f: Field, v: int, lines: list[str], ind: str, var: str,
                             n: str, nullable: bool) -> None:
        """Compact array; n is the first varint byte, pos is past it. A one-byte count is
        the fast path; read_compact_count takes the rest (-1 for null)."""
        lines.append(f"{ind}if {n} < 0x80:" if nullable else f"{ind}if 0 < {n} < 0x80:")
        lines.append(f"{ind}    {n} -= 1  # -1: null")
        lines.append(f"{ind}else:")
        lines.append(f"{ind}    {n}, pos = read_compact_count(b, pos - 1, {nullable})")
        if nullable:
            lines.append(f"{ind}if {n} < 0:")
            lines.append(f"{ind}    {var} = None")
            lines.append(f"{ind}elif not {n}:")
        else:
            lines.append(f"{ind}if not {n}:")
        lines.append(f"{ind}    {var} = []")
        lines.append(f"{ind}else:")
        ind += "    "
        lines.append(f"{ind}if {n} > blen - pos:")
        lines.append(f"{ind}    raise bad_length(pos, {n})")
        if f.is_struct and self.vector_slots(f.struct_def, v) is not None:
            self.decode_vector(f.struct_def, v, lines, ind, var, n)
        else:
            self.decode_elements(f, v, lines, ind, var, n)

    def decode_compact_value(self, f: Field, lines: list[str], ind: str, var: str, n: str,
                             nullable: bool) -> None:
        """Compact string/bytes/records; n is the first varint byte, pos is past it.
        Fast path: a one-byte length; the reader helper takes every other case."""
        end = self.tmp()
        lines.append(f"{ind}if 0 < {n} < 0x80:")
        lines.append(f"{ind}    {end} = pos + {n} - 1")
        lines.append(f"{ind}    if {end} > blen:")
        lines.append(f"{ind}        raise bad_length(pos, {n} - 1)")
        lines.append(f"{ind}    {var} = {_slice_expr(f.type, 'pos', end)}")
        lines.append(f"{ind}    pos = {end}")
        if f.type != "string":  # batches are often 128 B - 16 KiB: a two-byte length
            lines.append(f"{ind}elif {n} >= 0x80 and b[pos] < 0x80:")
            lines.append(f"{ind}    {n} = ({n} & 0x7F) | (b[pos] << 7)")
            lines.append(f"{ind}    {end} = pos + {n}")
            lines.append(f"{ind}    if {end} > blen:")
            lines.append(f"{ind}        raise bad_length(pos, {n} - 1)")
            lines.append(f"{ind}    {var} = {_slice_expr(f.type, 'pos + 1', end)}")
            lines.append(f"{ind}    pos = {end}")
        lines.append(f"{ind}else:")
        kind = {"string": "cstring", "bytes": "cbytes", "records": "crecords"}[f.type]
        reader = f"read_{'n' if nullable and f.type != 'records' else ''}{kind}"
        args = "b, m, pos - 1" if f.type == "records" else "b, pos - 1"
        if f.type == "records" and not nullable:
            lines.append(f"{ind}    {var}, pos = read_crecords_required({args})")
        else:
            lines.append(f"{ind}    {var}, pos = {reader}({args})")

    def decode_elements(self, f: Field, v: int, lines, ind: str, var: str, n: str) -> None:
        if is_fixed(f.type) and f.type != "uuid":
            char = self.char(f.type)
            lines.append(f"{ind}{var} = list((_A{_ARRAY_NAMES[char]}[{n}] "
                         f"if {n} <= ARRAY_STRUCTS_MAX"
                         f" else array_struct({char!r}, {n})).unpack_from(b, pos))")
            lines.append(f"{ind}pos += {fixed_size(f.type)} * {n}")
            return
        if f.is_struct and self.flex(v) and self.shape_fields(f.struct_def, v) is not None:
            self.decode_shaped(f.struct_def, v, lines, ind, var, n)
            return
        elem, app = self.tmp(), self.tmp()
        lines.append(f"{ind}{var} = []")
        lines.append(f"{ind}{app} = {var}.append")
        lines.append(f"{ind}for _ in range({n}):")
        self.decode_one(f.element(), v, lines, ind + "    ", elem, nullable=False)
        lines.append(f"{ind}    {app}({elem})")

    def decode_shaped(self, sd: StructDef, v: int, lines, ind: str, var: str, n: str) -> None:
        """Elements of fixed scalars and primitive arrays: decode the first one, then
        speculate that the rest share its array lengths and read them with one
        iter_unpack. Every count byte and tagged-section byte is checked first, which
        makes the layout exact; any other shape takes the general loop."""
        fields = self.shape_fields(sd, v)
        assert fields is not None
        first, rest = self.tmp(), self.tmp()
        lines.append(f"{ind}{var} = []")
        self.decode_struct(sd, v, lines, ind, target=first)
        lines.append(f"{ind}{var}.append({first})")
        lines.append(f"{ind}{rest} = {n} - 1")
        counts = {f.py_name: self.tmp() for f in fields if f.is_array}
        lines.append(f"{ind}if {rest}:")
        inner = ind + "    "
        for f in fields:
            if f.is_array:
                lines.append(f"{inner}{counts[f.py_name]} = len({first}.{f.py_name})")
        small = " and ".join(f"{c} < 0x7F" for c in counts.values())
        lines.append(f"{inner}if {small}:")
        self.decode_same_shape(sd, v, fields, counts, lines, inner + "    ", var, rest)
        elem = self.tmp()
        lines.append(f"{ind}for _ in range({rest}):")
        self.decode_struct(sd, v, lines, ind + "    ", target=elem)
        lines.append(f"{ind}    {var}.append({elem})")

    def decode_same_shape(self, sd, v, fields, counts, lines, ind: str, var: str,
                          rest: str) -> None:
        template, byte_off, idx, checks, args = "", "0", "0", [], {}
        bounds: list[str] = []
        size, end, packer = self.tmp(), self.tmp(), self.tmp()
        for f in fields:
            char = self.char(f.type)
            if not f.is_array:
                template += char
                args[f.py_name] = f"uuid_of(_t[{idx}])" if f.type == "uuid" else f"_t[{idx}]"
                byte_off, idx = f"{byte_off} + {fixed_size(f.type)}", f"{idx} + 1"
                continue
            c = counts[f.py_name]
            template += "x%d" + char
            checks.append(f"b[pos + {byte_off}:{end}:{size}] == bytes(({c} + 1,)) * {rest}")
            lo, hi = self.tmp(), self.tmp()
            bounds.append(f"{lo} = {idx}")
            bounds.append(f"{hi} = {lo} + {c}")
            args[f.py_name] = f"list(_t[{lo}:{hi}])"
            byte_off = f"{byte_off} + 1 + {fixed_size(f.type)} * {c}"
            idx = hi
        template += "x"
        checks.append(f"b[pos + {byte_off}:{end}:{size}] == _BYTE0 * {rest}")
        cache = self.shape_cache(sd, "d:" + template)
        lens = ", ".join(counts.values()) + ","
        lines.append(f"{ind}{packer} = shape_struct({cache}, {template!r}, ({lens}))")
        lines.append(f"{ind}{size} = {packer}.size")
        lines.append(f"{ind}{end} = pos + {size} * {rest}")
        lines.append(f"{ind}if {end} <= blen and {' and '.join(checks)}:")
        lines += [f"{ind}    {line}" for line in bounds]
        ctor = [args.get(f.py_name) or default_literal(f) for f in sd.fields]
        if self.has_unknown(sd):
            ctor.append("None")
        lines.append(f"{ind}    {var} += [{sd.name}({', '.join(ctor)}) for _t in "
                     f"{packer}.iter_unpack(b[pos:{end}])]")
        lines.append(f"{ind}    pos = {end}")
        lines.append(f"{ind}    {rest} = 0")

    # ---- arrays of fixed-shape structs ------------------------------------------------

    def vector_slots(self, sd: StructDef, v: int) -> list[tuple[str, Field | None, int]] | None:
        """Layout of an element whose size is fixed when its variable parts hold their
        defaults (empty array, null, no tagged fields): [(char, field, expected byte)],
        expected -1 for a value. None when some part cannot be fixed."""
        flex = self.flex(v)
        slots: list[tuple[str, Field | None, int]] = []
        for f in self.present(sd, v, tagged=False):
            if is_fixed(f.type) and not f.is_array:
                slots.append((self.char(f.type), f, -1))
            elif flex and self.field_flex(f, v) and not f.is_array and not f.is_struct \
                    and default_literal(f) == "None" and v in f.nullable:
                slots.append(("B", f, 0))
            elif flex and self.field_flex(f, v) and f.is_array and v not in f.nullable:
                slots.append(("B", f, 1))
            else:
                return None
        if flex:
            slots.append(("B", None, 0))
        return slots if any(e < 0 for _, _, e in slots) else None

    def decode_vector(self, sd: StructDef, v: int, lines, ind: str, var: str, n: str) -> None:
        """Fast path: one iter_unpack over n elements when every byte the general parse
        would branch on holds the default; that check makes the layout exact."""
        slots = self.vector_slots(sd, v)
        assert slots is not None
        fmt = self.fmt("".join(c for c, _, _ in slots))
        size = sum(_char_size(c) for c, _, _ in slots)
        end = self.tmp()
        lines.append(f"{ind}{end} = pos + {size} * {n}")
        checks, offset = [f"{end} <= blen"], 0
        for char, _f, expect in slots:
            if expect >= 0:
                checks.append(f"b[pos + {offset}:{end}:{size}] == _BYTE{expect} * {n}")
            offset += _char_size(char)
        names, args = [], {}
        for _char, f, expect in slots:
            name = self.tmp() if expect < 0 else "_"
            names.append(name)
            if f is not None and expect < 0:
                args[f.py_name] = f"uuid_of({name})" if f.type == "uuid" else name
            elif f is not None:
                args[f.py_name] = "[]" if expect == 1 else "None"
        ctor = [args.get(f.py_name) or default_literal(f) for f in sd.fields]
        if self.has_unknown(sd):
            ctor.append("None")
        values = [f for _c, f, e in slots if e < 0 and f is not None]
        lines.append(f"{ind}if {' and '.join(checks)}:")
        if values == sd.fields[:len(values)] and all(f.type != "uuid" for f in values):
            # values fill the leading fields; everything else takes its class default
            padded = self.fmt("".join(c if e < 0 else "x" for c, _f, e in slots))
            lines.append(f"{ind}    {var} = list(starmap({sd.name}, "
                         f"{padded}.iter_unpack(b[pos:{end}])))")
        else:
            lines.append(f"{ind}    {var} = [{sd.name}({', '.join(ctor)}) for "
                         f"{', '.join(names)}, in {fmt}.iter_unpack(b[pos:{end}])]")
        lines.append(f"{ind}    pos = {end}")
        lines.append(f"{ind}else:")
        if self.flex(v) and self.shape_fields(sd, v) is not None:
            self.decode_shaped(sd, v, lines, ind + "    ", var, n)
        else:
            self.decode_elements_of(sd, v, lines, ind + "    ", var, n)

    def decode_elements_of(self, sd: StructDef, v: int, lines, ind: str, var: str,
                           n: str) -> None:
        elem, app = self.tmp(), self.tmp()
        lines.append(f"{ind}{var} = []")
        lines.append(f"{ind}{app} = {var}.append")
        lines.append(f"{ind}for _ in range({n}):")
        self.decode_struct(sd, v, lines, ind + "    ", target=elem)
        lines.append(f"{ind}    {app}({elem})")

    def decode_one(self, f: Field, v: int, lines, ind: str, var: str, nullable: bool) -> None:
        """Read one value of f's element type (prefix included) into var."""
        if is_fixed(f.type):
            self.flush_read_group([(self.char(f.type), var)],
                                  [var] if f.type == "uuid" else [], lines, ind)
            return
        prefix = "b" if f.is_struct and nullable else self.prefix(f, v, array=False)
        pvar = self.tmp()
        if prefix:
            self.flush_read_group([(prefix, pvar)], [], lines, ind)
        self.decode_after_prefix(f, v, lines, ind, var, pvar, nullable)

    def decode_field(self, f: Field, v: int, lines: list[str], ind: str, var: str) -> None:
        """A whole field (array or single value) read at pos, prefix included."""
        if not f.is_array:
            self.decode_one(f, v, lines, ind, var, nullable=v in f.nullable)
            return
        pvar = self.tmp()
        self.flush_read_group([(self.prefix(f, v, array=True), pvar)], [], lines, ind)
        self.decode_after_prefix(f, v, lines, ind, var, pvar, nullable=v in f.nullable)

    # ---- tagged fields ----------------------------------------------------------------

    def decode_tagged_section(self, sd, v, lines, ind, args: dict[str, str]) -> str:
        tagged = self.present(sd, v, tagged=True)
        fn = self.tagged_decode_fn(sd, v, tagged)
        names = [self.tmp() for _ in tagged]
        unknown = self.tmp()
        lines.append(f"{ind}if b[pos]:")
        lines.append(f"{ind}    {''.join(x + ', ' for x in names)}{unknown}, pos = {fn}(b, m, pos)")
        lines.append(f"{ind}else:")
        lines.append(f"{ind}    pos += 1")
        for f, name in zip(tagged, names):
            lines.append(f"{ind}    {name} = {default_literal(f)}")
        lines.append(f"{ind}    {unknown} = None")
        for f, name in zip(tagged, names):
            args[f.py_name] = name
        return unknown

    def tagged_decode_fn(self, sd: StructDef, v: int, tagged: list[Field]) -> str:
        key = ("t", sd.name, v)
        if key in self.names:
            return self.names[key]
        saved = self.begin_fn()
        lines = ["    blen = len(b)", "    count, pos = read_uvarint(b, pos)",
                 "    if count > blen - pos:", "        raise bad_length(pos, count)"]
        names = [self.tmp() for _ in tagged]
        for f, name in zip(tagged, names):
            lines.append(f"    {name} = {default_literal(f)}")
        lines += ["    unknown = None", "    for _ in range(count):",
                  "        tag, pos, end = read_unknown_tag(b, pos)"]
        for i, (f, name) in enumerate(zip(tagged, names)):
            lines.append(f"        {'if' if i == 0 else 'elif'} tag == {f.tag}:")
            self.decode_field(f, v, lines, "            ", name)
        lines.append(f"        {'else:' if tagged else 'if True:'}")
        lines += ["            if unknown is None:", "                unknown = []",
                  "            unknown.append((tag, bytes(b[pos:end])))", "            pos = end",
                  "        if pos != end:",
                  "            raise ProtocolError('tagged field size mismatch', offset=pos)"]
        lines.append(f"    return {''.join(x + ', ' for x in names)}unknown, pos")
        self.define(key, "b, m, pos", lines)
        self.end_fn(saved)
        return self.names[key]


_ARRAY_NAMES = {"?": "o", "b": "b", "B": "B", "h": "h", "H": "H", "i": "i", "I": "I",
                "q": "q", "d": "d"}


def _char_size(char: str) -> int:
    return 16 if char == "16s" else {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4,
                                     "q": 8, "d": 8}[char]


def _slice_expr(ftype: str, start: str, end: str) -> str:
    if ftype == "string":
        return f"str(b[{start}:{end}], 'utf-8')"
    if ftype == "records":
        return f"m[{start}:{end}]"
    return f"bytes(b[{start}:{end}])"
