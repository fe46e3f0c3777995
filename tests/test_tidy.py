"""The tree's rules, checked: short functions, files under their size limit, imports that
only run down the layers, generated codecs used only through net/kafka's public module.

Each failure names the file and line, so a break is fixed where it happens. Generated files
are the ones `.gitattributes` marks `linguist-generated`.
"""

from __future__ import annotations

import ast
import fnmatch
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("runtime", "storage", "net", "services", "bench")
FUNCTION_LINES_MAX = 70
FILE_LINES_MAX = 600
# What each layer may import from panda.* (DESIGN.md section 1: arrows point down only).
ALLOWED_IMPORTS = {
    "runtime": {"runtime"},
    "storage": {"runtime", "storage"},
    "net": {"runtime", "net"},
    "services": {"runtime", "storage", "net", "services"},
    "bench": {"runtime", "storage", "net", "services", "bench", "testing"},
}
GENERATED_PACKAGE = "panda.net.kafka._generated"
GENERATED_USERS = "net/kafka/"      # the only folder that may import the generated codecs


@dataclass(frozen=True)
class Source:
    path: Path          # relative to the repository root
    module: str         # its dotted name under panda.*
    tree: ast.Module
    lines: int


def _generated_patterns() -> list[str]:
    patterns = []
    for line in (ROOT / ".gitattributes").read_text().splitlines():
        fields = line.split()
        if fields and not line.startswith("#") and "linguist-generated=true" in fields[1:]:
            patterns.append(fields[0])
    return patterns


def _is_generated(rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p.replace("**", "*")) for p in patterns)


def _module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[0] in LAYERS or parts[0] == "tests":
        parts.insert(0, "panda")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources(folders: tuple[str, ...]) -> list[Source]:
    patterns = _generated_patterns()
    found = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if _is_generated(rel.as_posix(), patterns):
                continue
            text = path.read_text(encoding="utf-8")
            found.append(Source(rel, _module_name(rel), ast.parse(text, str(rel)),
                                text.count("\n") + 1))
    return found


HAND_WRITTEN = _sources((*LAYERS, "panda", "tests"))


def _imports(source: Source) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative ones resolved."""
    package = source.module if source.path.name == "__init__.py" else \
        source.module.rpartition(".")[0]
    found = []
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def long_functions(sources: list[Source]) -> list[str]:
    problems = []
    for source in sources:
        for node in ast.walk(source.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LINES_MAX:
                    problems.append(f"{source.path}:{node.lineno}: function {node.name} is "
                                    f"{length} lines (max {FUNCTION_LINES_MAX})")
    return problems


def long_files(sources: list[Source]) -> list[str]:
    return [f"{s.path}:1: {s.lines} lines (max {FILE_LINES_MAX}; split it along its seams)"
            for s in sources if s.lines > FILE_LINES_MAX]


def upward_imports(sources: list[Source]) -> list[str]:
    problems = []
    for source in sources:
        layer = source.path.parts[0]
        if layer not in ALLOWED_IMPORTS:
            continue
        for line, name in _imports(source):
            parts = name.split(".")
            if parts[0] == "panda" and len(parts) > 1 and parts[1] not in ALLOWED_IMPORTS[layer] \
                    and not parts[1].startswith("_") and parts[1] != "__version__":
                problems.append(f"{source.path}:{line}: {layer}/ imports {name} "
                                f"(a {layer}/ module may import {sorted(ALLOWED_IMPORTS[layer])})")
    return problems


def generated_imports(sources: list[Source]) -> list[str]:
    return [f"{s.path}:{line}: imports {name}; use panda.net.kafka's public names instead"
            for s in sources if not s.path.as_posix().startswith(GENERATED_USERS)
            for line, name in _imports(s) if name.startswith(GENERATED_PACKAGE)]


def _assert_none(problems: list[str]) -> None:
    assert not problems, "\n" + "\n".join(problems)


def test_functions_are_short():
    _assert_none(long_functions(HAND_WRITTEN))


def test_hand_written_files_stay_under_the_limit():
    _assert_none(long_files(HAND_WRITTEN))


def test_imports_run_down_the_layers():
    _assert_none(upward_imports(HAND_WRITTEN))


def test_generated_codecs_are_imported_only_inside_net_kafka():
    _assert_none(generated_imports(HAND_WRITTEN))


def test_the_rules_see_the_tree():
    """A guard against a check that passes because it looked at nothing."""
    paths = {s.path.as_posix() for s in HAND_WRITTEN}
    assert {"runtime/ring.py", "storage/segment.py", "net/kafka/codec.py"} <= paths
    assert not any(p.startswith("net/kafka/_generated/") for p in paths)
    assert _imports(next(s for s in HAND_WRITTEN if s.path.as_posix() == "runtime/node.py"))
