"""Generator of the Kafka wire codecs: specs in, `panda.net.kafka._generated` out.

Owns the translation of the Apache Kafka message specs into specialised Python modules.
Never imported by the broker at run time; only `make codegen` and the tests use it.
"""

from __future__ import annotations

from pathlib import Path

from panda.net.kafka.codegen.module import BANNER, ModuleEmitter, module_name
from panda.net.kafka.codegen.schema import Message, load_all, spec_dir

__all__ = ["default_output_dir", "default_spec_dir", "generate", "write"]

REPO_ROOT = Path(__file__).resolve().parents[3]


def default_spec_dir() -> Path:
    return spec_dir(REPO_ROOT)


def default_output_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "_generated"


def generate(specs: Path) -> dict[str, str]:
    """Return {file name: source text} for every spec file plus the package index."""
    messages = load_all(specs)
    if not messages:
        raise FileNotFoundError(f"no Kafka message specs (*.json) in {specs}")
    files = {f"{module_name(m)}.py": ModuleEmitter(m).render() for m in messages}
    files["__init__.py"] = _index(messages)
    return files


def write(specs: Path, out_dir: Path) -> list[Path]:
    """Write the generated package into out_dir, removing stale generated modules."""
    files = generate(specs)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.py"):
        if stale.name not in files:
            stale.unlink()
    paths = []
    for name, text in sorted(files.items()):
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def _index(messages: list[Message]) -> str:
    lines = [BANNER.format(source="every spec file"),
             '"""Index of the generated codec modules, loaded lazily by panda.net.kafka."""',
             "",
             "# name: (module, kind, api_key, min_version, max_version, flexible_min,",
             "#        listeners, latest_version_unstable)",
             "MODULES = {"]
    for m in messages:
        flex = m.flexible.lo if m.flexible.lo <= m.flexible.hi else None
        lines.append(f"    {m.name!r}: ({module_name(m)!r}, {m.kind!r}, {m.api_key!r}, "
                     f"{m.valid.lo}, {m.valid.hi}, {flex!r}, {m.listeners!r}, "
                     f"{m.latest_unstable!r}),")
    lines.append("}")
    for kind in ("request", "response"):
        lines.append(f"{kind.upper()}S = {{")
        for m in sorted((m for m in messages if m.kind == kind), key=lambda m: m.api_key or 0):
            lines.append(f"    {m.api_key}: {m.name!r},")
        lines.append("}")
    return "\n".join(lines) + "\n"
