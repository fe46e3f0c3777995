"""Operating errors of the runtime layer, one hierarchy.

    RuntimeLayerError
    ├── ConfigError                  bad flag, file or env value; names the failing path
    ├── CrossShardError              a call to another shard failed
    │   ├── UnknownServiceError      no such service on the destination shard
    │   ├── UnknownMethodError       the service has no such public method
    │   ├── ArgumentEncodeError      an argument or result msgspec cannot encode
    │   ├── MessageTooLargeError     encoded call over message_bytes_max
    │   ├── CrossShardTimeout        the caller's deadline passed (remote call cancelled)
    │   ├── ShardStoppedError        the destination shard is stopping or gone
    │   └── RemoteError              the remote method raised; carries type name and traceback
    └── MemoryBudgetError            a reservation larger than the whole shard budget

Programmer bugs are asserts or InternalError: they take the shard, and so the node, down.
"""


class RuntimeLayerError(Exception):
    """Base of every operating error raised by panda.runtime."""

    retriable = False


class InternalError(AssertionError):
    """A broken invariant: the shard must stop, loudly."""


class ConfigError(RuntimeLayerError):
    """Invalid configuration; the message names the failing option or path."""


class CrossShardError(RuntimeLayerError):
    """A cross-shard call could not complete."""


class UnknownServiceError(CrossShardError):
    pass


class UnknownMethodError(CrossShardError):
    pass


class ArgumentEncodeError(CrossShardError, TypeError):
    pass


class MessageTooLargeError(CrossShardError):
    pass


class CrossShardTimeout(CrossShardError, TimeoutError):
    retriable = True


class ShardStoppedError(CrossShardError):
    retriable = True


class RemoteError(CrossShardError):
    """The remote method raised an exception that could not be rebuilt as its own type."""

    def __init__(self, type_name: str, message: str, remote_traceback: str, shard: int):
        super().__init__(f"{type_name}: {message} (on shard {shard})")
        self.type_name = type_name
        self.remote_message = message
        self.remote_traceback = remote_traceback
        self.shard = shard


class MemoryBudgetError(RuntimeLayerError):
    pass
