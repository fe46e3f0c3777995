"""SIGTERM sent to every process of a node at once (`pkill`, a service manager stopping the
whole control group) is one graceful stop: exit 0, every service's stop ran once."""

import os
import signal

from .conftest import NODE_ENV, wait_until


def test_sigterm_to_the_node_and_every_shard_is_one_graceful_stop(panda_node):
    node = panda_node(smp=2, args=["--overprovisioned"], env=NODE_ENV)
    for pid in [node.process.pid, *node.shard_pids()]:
        os.kill(pid, signal.SIGTERM)
    assert wait_until(lambda: node.process.poll() is not None, 15)
    assert node.process.returncode == 0, node.log()
    assert "failed while stopping" not in node.log()
