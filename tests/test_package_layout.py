"""The distribution maps the top-level folders onto the panda.* namespace."""
import importlib


def test_namespace_maps_top_level_folders():
    for name in ("panda.runtime", "panda.storage", "panda.net", "panda.services", "panda.bench"):
        module = importlib.import_module(name)
        top = name.split(".")[1]
        assert f"/{top}/" in module.__file__.replace("\\", "/")
