"""The product: `panda-runtime` is the runtime's command with the broker's services as the
default service list. The runtime itself knows no service by name; this module names them.

    python -m panda.services.launcher --smp 2       # what the panda-runtime script runs
"""

from __future__ import annotations

from panda.runtime import cli

DEFAULT_SERVICES = (
    "panda.services.admin:AdminService",
    "panda.services.controller:Controller",
    "panda.services.kafka:PartitionManager",
    "panda.services.kafka.groups:GroupCoordinator",
    "panda.services.kafka:KafkaServer",
)


def main() -> None:
    """`panda-runtime`: a node running DEFAULT_SERVICES unless the config says otherwise."""
    cli.main(default_services=DEFAULT_SERVICES)


if __name__ == "__main__":
    main()
