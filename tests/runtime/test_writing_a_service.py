"""docs/writing-a-service.md cannot rot: its code blocks, copied into an empty folder, are the
shipped example (services/examples/tally.py) and its test passes there, run as a newcomer
runs it (a node started with --service and a config flag, a method called, /metrics read)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from panda.runtime.config import load_config
from panda.runtime.service import load_service_classes
from panda.services.examples import tally
from panda.services.launcher import DEFAULT_SERVICES

from .conftest import REPO_ROOT

TUTORIAL = Path(REPO_ROOT) / "docs" / "writing-a-service.md"
EXAMPLE = Path(REPO_ROOT) / "services" / "examples" / "tally.py"
FENCE = re.compile(r"^```(\w+)(?: +(\S+))?\n(.*?)^```$", re.M | re.S)


def code_blocks(language: str) -> list[tuple[str | None, str]]:
    """(file name or None, text) of each ```<language> [file] block, in page order."""
    return [(name, body) for lang, name, body in FENCE.findall(TUTORIAL.read_text())
            if lang == language]


def extract(folder: Path) -> dict[str, str]:
    """Write the named blocks as files (blocks of one name concatenated, in order)."""
    files: dict[str, str] = {}
    for name, body in code_blocks("python"):
        if name:
            files[name] = files.get(name, "") + body
    for name, text in files.items():
        (folder / name).write_text(text)
    return files


def test_the_tutorial_builds_the_shipped_example(tmp_path):
    files = extract(tmp_path)
    assert set(files) == {"tally.py", "test_tally.py"}
    assert files["tally.py"] == EXAMPLE.read_text()


def test_the_tutorial_yaml_is_a_valid_node_config(tmp_path):
    (block,) = [body for _, body in code_blocks("yaml")]
    path = tmp_path / "node.yaml"
    path.write_text(block)
    classes = load_service_classes([*DEFAULT_SERVICES, f"{tally.__name__}:TallyListener"])
    data = yaml.safe_load(block)
    data["services"] = [s.replace("tally:", f"{tally.__name__}:") for s in data["services"]]
    path.write_text(yaml.safe_dump(data))
    config = load_config(str(path), {}, environ={}, classes=classes)
    assert config.tally == tally.TallyConfig(addr="127.0.0.1:9900", line_bytes_max=1024)


@pytest.mark.multiprocess
def test_the_tutorial_test_passes_in_an_empty_folder(tmp_path):
    extract(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_tally.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False,
        env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
