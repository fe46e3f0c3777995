"""A broken invariant (an assert) in a service method takes the node down loudly: never limp on."""

from panda.testing import ServiceCallError

from .conftest import NODE_ENV, spec, wait_until


def test_an_assert_in_a_called_method_stops_the_node_non_zero(panda_node):
    node = panda_node(smp=2, services=[spec("Invariant")], args=["--overprovisioned"],
                      env=NODE_ENV)
    try:
        node.call("invariant", "broken", shard=1)
    except (ServiceCallError, OSError):
        pass                        # the caller may or may not hear back before the stop
    assert wait_until(lambda: node.process.poll() is not None, 10)
    assert node.process.returncode != 0
    log = node.log()
    assert "shard 1 exited unexpectedly" in log
    assert "the invariant does not hold" in log
