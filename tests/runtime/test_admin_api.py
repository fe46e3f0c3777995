"""The admin API on shard 0 calls any service method on any shard (`POST
/v1/services/{service}/{method}?shard=N`, a JSON array body) and maps failures to statuses:
404 unknown service/method/shard, 400 bad arguments, 500 the method's own error."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from panda.testing import ServiceCallError

from .conftest import spec


@pytest.fixture(scope="module")
def node(module_node):
    return module_node(smp=2, services=[spec("Probe")], args=["--overprovisioned"])


def post(node, path: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://{node.admin_addr}{path}", data=body)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_calls_reach_the_requested_shard_with_json_arguments(node):
    assert node.call("probe", "whoami", shard=1)[:3] == [1, 2, 1]
    assert node.call("probe", "whoami")[:3] == [0, 2, 0]          # default: the first shard
    assert node.call("probe", "echo", {"a": [1, "x", None]}, shard=1) == {"a": [1, "x", None]}


@pytest.mark.parametrize("service, method, query, status", [
    ("nope", "whoami", "", 404),
    ("probe", "nope", "", 404),
    ("probe", "_private", "", 404),
    ("probe", "start", "", 404),
    ("probe", "stop", "", 404),
    ("probe", "whoami", "?shard=7", 404),
    ("probe", "whoami", "?shard=-1", 404),
    ("runtime", "exit", "?shard=1", 404),             # the runtime's control is not exposed
    ("runtime", "stop_service", "?shard=0", 404),
    ("probe", "whoami", "?shard=x", 400),
])
def test_unknown_services_methods_and_shards_are_refused(node, service, method, query, status):
    code, body = post(node, f"/v1/services/{service}/{method}{query}", b"[]")
    assert code == status, body
    assert body["error"]
    assert node.call("probe", "whoami", shard=1)[0] == 1       # both shards still serve


@pytest.mark.parametrize("body", [b"{}", b"[1,", b'"x"'])
def test_a_body_that_is_not_a_json_array_is_a_400(node, body):
    code, answer = post(node, "/v1/services/probe/whoami", body)
    assert code == 400, answer


def test_wrong_arguments_are_a_400_and_the_methods_own_error_a_500(node):
    with pytest.raises(ServiceCallError) as info:
        node.call("probe", "record_told", "not-an-int", "v", shard=1)
    assert info.value.status == 400 and "int" in info.value.message
    with pytest.raises(ServiceCallError) as info:
        node.call("probe", "shard_plus_one", 1, 2, shard=1)
    assert info.value.status == 400
    with pytest.raises(ServiceCallError) as info:
        node.call("probe", "boom", "raised over http", shard=1)
    assert info.value.status == 500 and info.value.message == "ProbeError: raised over http"
