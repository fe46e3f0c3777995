"""Shared limits of the runtime, in one place. Units are the last word of every name.

Everything that can grow is bounded by one of these; a config property may lower or raise
some of them per node, never remove the bound.
"""

CACHE_LINE_BYTES = 64
RING_BYTES_DEFAULT = 8 * 1024 * 1024          # data area of one SPSC ring (power of two)
RINGS_PER_SHARD_BYTES_MAX = 64 * 1024 * 1024  # a shard's outgoing rings, when sized by default
RING_BYTES_MIN = 64 * 1024
RING_BYTES_MAX = 256 * 1024 * 1024
MESSAGE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024  # largest cross-shard message, after encoding
RING_CHUNK_DIVISOR = 4                        # a message over ring_bytes/4 travels in chunks
DRAIN_MESSAGES_MAX = 256                      # messages taken from one ring per poll pass
COALESCE_BYTES_MAX = 16 * 1024                # one coalesced record of small messages (batch)
COALESCE_MESSAGE_BYTES_MAX = COALESCE_BYTES_MAX // 4   # larger messages travel as their own record
PUBLISH_BYTES_MAX = 64 * 1024                 # unpublished whole records a sender lets pile up
IDLE_POLL_US_DEFAULT = 100                    # poll window after the last message, then sleep
CALLS_IN_FLIGHT_MAX_DEFAULT = 4096            # per (smp group, destination shard)
SHARD_CONTROL_BYTES = 4096                    # per-shard control block in the arena
LAST_ERROR_BYTES_MAX = 2048                   # last error text a shard leaves for the node
STOP_TIMEOUT_S = 8.0                          # graceful stop before the node kills shards
SHARD_DEATH_STOP_TIMEOUT_S = 3.0              # survivors' stop after a shard died
BLOCKED_REACTOR_NOTIFY_MS_DEFAULT = 25
STARTUP_TIMEOUT_S = 60.0
