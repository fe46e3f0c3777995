"""Emits the per-version decode functions of one message module.

Owns the shape of generated readers: `_d_<Struct>_v<N>(b, pos) -> (obj, pos)` over a
memoryview, fixed-width runs read with one precompiled Struct, leaf structs inlined into
their array loops, every count bounded by the bytes left. Emits text only.
"""

from __future__ import annotations

from panda.net.kafka.codegen.base import EmitterBase
from panda.net.kafka.codegen.schema import Field, StructDef
from panda.net.kafka.codegen.values import default_literal, fixed_size, helper_suffix, is_fixed


class DecodeEmitter(EmitterBase):
    """Decode half of a ModuleEmitter (mixin): needs fmt(), char(), tmp(), begin_fn(),
    end_fn(), define(), flex(), field_flex(), is_leaf(), present(), has_unknown()."""

    def decode_fn(self, sd: StructDef, v: int) -> str:
        key = ("d", sd.name, v)
        if key not in self.names:
            saved = self.begin_fn()
            lines: list[str] = []
            target = self.decode_struct(sd, v, lines, "    ")
            lines.append(f"    return {target}, pos")
            self.define(key, "b, pos", lines)
            self.end_fn(saved)
        return self.names[key]

    def decode_struct(self, sd: StructDef, v: int, lines: list[str], ind: str,
                      target: str | None = None) -> str:
        """Emit the reads of one struct; returns the name of the variable holding it."""
        args: dict[str, str] = {}
        group: list[tuple[Field, str]] = []
        for f in self.present(sd, v, tagged=False):
            var = self.tmp()
            args[f.py_name] = var
            if is_fixed(f.type) and not f.is_array:
                group.append((f, var))
                continue
            self.flush_read_group(group, lines, ind)
            self.decode_field(f, v, lines, ind, var)
        self.flush_read_group(group, lines, ind)
        unknown = self.decode_tagged_section(sd, v, lines, ind, args) if self.flex(v) else None
        ctor = [args.get(f.py_name) or default_literal(f) for f in sd.fields]
        if self.has_unknown(sd):
            ctor.append(unknown or "None")
        target = target or self.tmp()
        lines.append(f"{ind}{target} = {sd.name}({', '.join(ctor)})")
        return target

    def flush_read_group(self, group: list[tuple[Field, str]], lines: list[str], ind: str) -> None:
        if not group:
            return
        fmt = self.fmt("".join(self.char(f.type) for f, _ in group))
        names = ", ".join(var for _, var in group)
        lines.append(f"{ind}{names}, = {fmt}.unpack_from(b, pos)")
        lines.append(f"{ind}pos += {sum(fixed_size(f.type) for f, _ in group)}")
        for f, var in group:
            if f.type == "uuid":
                lines.append(f"{ind}{var} = UUID(bytes={var})")
        group.clear()

    def decode_field(self, f: Field, v: int, lines: list[str], ind: str, var: str) -> None:
        if f.is_array:
            self.decode_array(f, v, lines, ind, var)
        else:
            self.decode_elem(f, v, lines, ind, var, nullable=v in f.nullable)

    def decode_elem(self, f: Field, v: int, lines, ind: str, var: str, nullable: bool) -> None:
        if is_fixed(f.type):
            lines.append(f"{ind}{var}, = {self.fmt(self.char(f.type))}.unpack_from(b, pos)")
            lines.append(f"{ind}pos += {fixed_size(f.type)}")
            if f.type == "uuid":
                lines.append(f"{ind}{var} = UUID(bytes={var})")
            return
        if not f.is_struct:
            lines.append(f"{ind}{var}, pos = {self.reader(f, v)}(b, pos)")
            return
        if nullable:
            lines.append(f"{ind}if b[pos] >= 0x80:")
            lines.append(f"{ind}    {var} = None")
            lines.append(f"{ind}    pos += 1")
            lines.append(f"{ind}else:")
            ind += "    "
            lines.append(f"{ind}pos += 1")
        self.decode_child(f.struct, v, lines, ind, var)

    def decode_child(self, sd: StructDef, v: int, lines, ind: str, var: str) -> None:
        if self.is_leaf(sd, v):
            self.decode_struct(sd, v, lines, ind, target=var)
        else:
            lines.append(f"{ind}{var}, pos = {self.decode_fn(sd, v)}(b, pos)")

    def reader(self, f: Field, v: int) -> str:
        suffix = helper_suffix(f, v, self.field_flex(f, v))
        if f.type == "records":
            return "read_crecords" if "c" in suffix else "read_records"
        kind = "string" if f.type == "string" else "bytes"
        return f"read_{suffix}{kind}"

    def decode_array(self, f: Field, v: int, lines: list[str], ind: str, var: str) -> None:
        n = self.tmp()
        nullable = v in f.nullable
        if self.field_flex(f, v):
            lines.append(f"{ind}{n} = b[pos]")
            lines.append(f"{ind}if {n} < 0x80:")
            lines.append(f"{ind}    pos += 1")
            lines.append(f"{ind}else:")
            lines.append(f"{ind}    {n}, pos = read_uvarint(b, pos)")
            null_test, fix = f"{n} == 0", f"{n} -= 1"
        else:
            lines.append(f"{ind}{n}, = _S_i.unpack_from(b, pos)")
            lines.append(f"{ind}pos += 4")
            null_test, fix = f"{n} < 0", None
        if nullable:
            lines.append(f"{ind}if {null_test}:")
            lines.append(f"{ind}    {var} = None")
            lines.append(f"{ind}else:")
            ind += "    "
        else:
            lines.append(f"{ind}if {null_test}:")
            lines.append(f"{ind}    raise null_not_allowed(pos - 1)")
        if fix:
            lines.append(f"{ind}{fix}")
        lines.append(f"{ind}if {n} > len(b) - pos:")
        lines.append(f"{ind}    raise bad_length(pos, {n})")
        self.decode_elements(f, v, lines, ind, var, n)

    def decode_elements(self, f: Field, v: int, lines, ind: str, var: str, n: str) -> None:
        if is_fixed(f.type) and f.type != "uuid":
            lines.append(f"{ind}{var} = list(unpack_from('>%d{self.char(f.type)}' % {n}, b, pos))")
            lines.append(f"{ind}pos += {fixed_size(f.type)} * {n}")
            return
        elem = self.tmp()
        lines.append(f"{ind}{var} = []")
        lines.append(f"{ind}for _ in range({n}):")
        self.decode_elem(f, v, lines, ind + "    ", elem, nullable=False)
        lines.append(f"{ind}    {var}.append({elem})")

    # ---- tagged fields ----------------------------------------------------------------

    def decode_tagged_section(self, sd, v, lines, ind, args: dict[str, str]) -> str:
        tagged = self.present(sd, v, tagged=True)
        fn = self.tagged_decode_fn(sd, v, tagged)
        names = [self.tmp() for _ in tagged]
        unknown = self.tmp()
        lines.append(f"{ind}if b[pos] == 0:")
        lines.append(f"{ind}    pos += 1")
        for f, name in zip(tagged, names):
            lines.append(f"{ind}    {name} = {default_literal(f)}")
        lines.append(f"{ind}    {unknown} = None")
        lines.append(f"{ind}else:")
        lines.append(f"{ind}    {''.join(x + ', ' for x in names)}{unknown}, pos = {fn}(b, pos)")
        for f, name in zip(tagged, names):
            args[f.py_name] = name
        return unknown

    def tagged_decode_fn(self, sd: StructDef, v: int, tagged: list[Field]) -> str:
        key = ("t", sd.name, v)
        if key in self.names:
            return self.names[key]
        saved = self.begin_fn()
        lines = ["    count, pos = read_uvarint(b, pos)",
                 "    if count > len(b) - pos:", "        raise bad_length(pos, count)"]
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
        self.define(key, "b, pos", lines)
        self.end_fn(saved)
        return self.names[key]
