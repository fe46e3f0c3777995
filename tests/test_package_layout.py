"""The distribution maps the top-level folders onto the panda.* namespace."""
import importlib
from pathlib import Path


def test_namespace_maps_top_level_folders():
    for name in ("panda.runtime", "panda.storage", "panda.net", "panda.services", "panda.bench"):
        module = importlib.import_module(name)
        top = name.split(".")[1]
        assert f"/{top}/" in module.__file__.replace("\\", "/")


def test_static_tools_resolve_the_namespace():
    """panda/<layer> links to the folder, so mypy, pyright and IDEs follow panda.* imports."""
    root = Path(__file__).resolve().parent.parent
    for top in ("runtime", "storage", "net", "services", "bench"):
        link = root / "panda" / top
        assert link.is_symlink() and link.resolve() == (root / top).resolve(), link
