"""Shared paths of the protocol tests; ../shared is optional (tests needing it skip)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
FRAMES_DIR = Path(os.environ.get("KAFKA_FRAMES_DIR") or SHARED / "kafka-frames")
SPECS_DIR = Path(os.environ.get("KAFKA_MESSAGES_DIR") or SHARED / "kafka-protocol/messages")


def frames_index() -> list[dict]:
    index = FRAMES_DIR / "index.json"
    if not index.is_file():
        return []
    return json.loads(index.read_text())["frames"]


@pytest.fixture(scope="session")
def frames() -> list[dict]:
    found = frames_index()
    if not found:
        pytest.skip(f"client frame corpus not found at {FRAMES_DIR} (../shared absent)")
    return found
