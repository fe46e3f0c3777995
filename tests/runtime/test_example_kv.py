"""The example key-value service, driven the way a user drives their own: through panda.testing."""

from panda.services.examples.kv import owner_of

KV = "panda.services.examples.kv:KeyValueStore"


def test_keys_live_on_their_owner_shard_and_any_shard_serves_them(panda_node):
    node = panda_node(smp=2, services=[KV], args=["--overprovisioned"])
    keys = [f"key-{i}" for i in range(20)]
    for key in keys:
        assert node.call("kv", "put", key, key.upper(), shard=0) == owner_of(key, 2)
    for key in keys:
        assert node.call("kv", "get", key, shard=1) == key.upper()
    local = [node.call("kv", "local_size", shard=s) for s in (0, 1)]
    assert all(local) and sum(local) == len(keys)
    assert node.call("kv", "size") == len(keys)
    assert node.call("kv", "delete", keys[0], shard=1) is True
    assert node.call("kv", "get", keys[0]) is None
    metrics = node.metrics()
    assert 'kv_keys{shard="0"}' in metrics and 'kv_keys{shard="1"}' in metrics
    assert node.stop() == 0
