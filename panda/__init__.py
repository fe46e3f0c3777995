"""panda-runtime: a shard-per-core runtime for Python and a Kafka-compatible broker on it.

The subpackages map onto the repository's top-level folders: panda.runtime (runtime/),
panda.storage (storage/), panda.net (net/), panda.services (services/), panda.bench (bench/).
"""

__version__ = "0.1.0"
