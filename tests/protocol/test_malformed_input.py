"""Decode of arbitrary bytes raises only ProtocolError (with api key, version and offset),
never another exception and never hangs: random bodies for every message version, random
frames, and truncated or bit-flipped real client frames."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panda.net.kafka import (
    SUPPORTED_VERSIONS,
    ProtocolError,
    codec,
    decode_body,
    decode_request,
    decode_response,
    messages,
)

from .conftest import FRAMES_DIR, frames_index

pytestmark = pytest.mark.sim

FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
NAMES = messages.names()


def _decode_only_protocol_errors(fn, *args) -> None:
    try:
        fn(*args)
    except ProtocolError as exc:
        assert exc.offset is not None


@FUZZ
@given(st.data())
def test_random_bodies_raise_only_protocol_error(data) -> None:
    name = data.draw(st.sampled_from(NAMES))
    entry = codec(name)
    version = data.draw(st.integers(entry.min_version, entry.max_version))
    payload = data.draw(st.binary(max_size=64))
    _decode_only_protocol_errors(decode_body, entry, version, payload)


@pytest.mark.parametrize("name", NAMES)
def test_random_bodies_per_message(name: str) -> None:
    entry = codec(name)

    @settings(FUZZ, max_examples=8)
    @given(st.integers(entry.min_version, entry.max_version), st.binary(max_size=48))
    def check(version: int, payload: bytes) -> None:
        _decode_only_protocol_errors(decode_body, entry, version, payload)

    check()


@FUZZ
@given(st.data())
def test_random_frames_with_a_valid_api_prefix(data) -> None:
    key = data.draw(st.sampled_from(sorted(SUPPORTED_VERSIONS)))
    lo, hi = SUPPORTED_VERSIONS[key]
    version = data.draw(st.integers(lo, hi))
    rest = data.draw(st.binary(max_size=96))
    frame = key.to_bytes(2, "big") + version.to_bytes(2, "big") + rest
    _decode_only_protocol_errors(decode_request, frame)
    _decode_only_protocol_errors(decode_response, rest, key, version)


@FUZZ
@given(st.binary(max_size=32))
def test_random_frames(frame: bytes) -> None:
    try:
        decode_request(frame)
    except ProtocolError:
        pass


def _corpus() -> list[bytes]:
    return [(FRAMES_DIR / m["file"]).read_bytes() for m in frames_index()]


def test_every_truncation_of_real_frames_raises_protocol_error(frames) -> None:
    for data in {d for d in _corpus() if len(d) < 600}:
        for cut in range(len(data)):
            try:
                _, _, _trailing = decode_request(data[:cut])
            except ProtocolError as exc:
                assert exc.api_key is not None or cut < 4
                assert exc.offset is not None and 0 <= exc.offset <= cut
            else:
                assert cut >= len(data) - 3  # only the Metadata frame's trailing bytes


@settings(FUZZ, max_examples=300)
@given(st.data())
def test_mutated_real_frames_raise_only_protocol_error(data) -> None:
    corpus = _corpus()
    if not corpus:
        pytest.skip("client frame corpus not found (../shared absent)")
    frame = bytearray(data.draw(st.sampled_from(corpus)))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(4, len(frame) - 1))
        frame[i] = data.draw(st.integers(0, 255))
    _decode_only_protocol_errors(decode_request, bytes(frame))
