"""Cross-check with kafka-python's protocol classes: our encodings decode with
kafka-python and re-encode there to the same bytes, and kafka-python's encodings decode
with ours to the original message, for the APIs and versions both implement."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from panda.net.kafka import codec, decode_body, decode_request, encode_body

from .strategies import message_strategy

pytestmark = pytest.mark.sim

kp = pytest.importorskip("kafka.protocol.api_message")

APIS = ["Produce", "Fetch", "Metadata", "ApiVersions", "FindCoordinator", "ListOffsets",
        "JoinGroup", "SyncGroup", "Heartbeat", "OffsetCommit", "OffsetFetch", "CreateTopics"]
VERSIONS_PER_API = 4
# kafka-python reads an ApiVersions response carrying an error as v0 (what a broker sends
# back for an unsupported request version), so only error-free ones compare byte for byte.
SAME_MEANING = {"ApiVersionsResponse": lambda m: m.error_code == 0}


def _kafka_python_classes() -> dict[str, type]:
    from kafka.protocol import admin, consumer, metadata, producer
    found = {}
    for mod in (admin, consumer, metadata, producer):
        for name in getattr(mod, "__all__", []):
            found[name] = getattr(mod, name)
    return found


def _cases() -> list[tuple[str, int]]:
    theirs = _kafka_python_classes()
    cases = []
    for api in APIS:
        for kind in ("Request", "Response"):
            name = api + kind
            if name not in theirs:
                continue
            ours = codec(name)
            hi = min(ours.max_version, theirs[name].max_version)
            step = max(1, (hi - ours.min_version) // (VERSIONS_PER_API - 1))
            versions = sorted({*range(ours.min_version, hi + 1, step), hi})
            cases += [(name, v) for v in versions]
    return cases


CASES = _cases()


@pytest.mark.parametrize(("name", "version"), CASES, ids=[f"{n}-v{v}" for n, v in CASES])
def test_both_directions(name: str, version: int) -> None:
    theirs_cls = _kafka_python_classes()[name]
    entry = codec(name)

    @settings(max_examples=5, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(message_strategy(name, version, unknown_tags=False))  # kafka-python drops them
    def check(msg) -> None:
        if not SAME_MEANING.get(name, lambda m: True)(msg):
            return
        ours = bytes(encode_body(entry, version, msg))
        theirs = theirs_cls.decode(ours, version=version)
        theirs._header = None  # decode leaves it unset; encode reads it
        theirs_bytes = bytes(theirs.encode(version=version))
        assert theirs_bytes == ours
        back, end = decode_body(entry, version, theirs_bytes)
        assert end == len(theirs_bytes) and back == msg

    check()


def test_kafka_python_request_with_header_decodes() -> None:
    from kafka.protocol.metadata import MetadataRequest
    req = MetadataRequest[9](topics=[MetadataRequest.MetadataRequestTopic(name="a"),
                                     MetadataRequest.MetadataRequestTopic(name="b")],
                             allow_auto_topic_creation=False)
    req.with_header(correlation_id=42, client_id="kp")
    wire = bytes(req.encode(header=True))
    header, body, trailing = decode_request(wire)
    assert (header.request_api_key, header.request_api_version, header.correlation_id,
            header.client_id) == (3, 9, 42, "kp")
    assert [t.name for t in body.topics] == ["a", "b"] and trailing == 0
    assert body.allow_auto_topic_creation is False
