"""The admin API's errors: what a failed request answers, as an HTTP status and a message.

    AdminError                 500  base; the JSON body is {"error": message}
     ├── BadRequestError       400  bad arguments: not a JSON array, undecodable, wrong types
     ├── NotFoundError         404  no such service, public method or shard
     ├── MethodFailedError     500  the called method raised; its type and message are passed on
     └── ShardCallError        502  the call failed crossing shards (CrossShardError, runtime)
          └── ShardTimeoutError  504  the shard did not answer in time

`for_exception` maps what a service call raised onto this tree, in the order the rows are
tried (ArgumentEncodeError is a TypeError before it is a CrossShardError: 400, not 502).
"""

from __future__ import annotations

import msgspec

from panda.runtime.errors import (
    CrossShardError,
    CrossShardTimeout,
    RuntimeLayerError,
    UnknownMethodError,
    UnknownServiceError,
)


class AdminError(Exception):
    """A request the admin API answers with `status` and {"error": str(self)}."""

    status = 500


class BadRequestError(AdminError):
    status = 400


class NotFoundError(AdminError):
    status = 404


class MethodFailedError(AdminError):
    status = 500


class ShardCallError(AdminError):
    status = 502


class ShardTimeoutError(ShardCallError):
    status = 504


def for_exception(exc: Exception) -> AdminError:
    """The error to answer for `exc`, raised while calling a service method."""
    named = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (UnknownServiceError, UnknownMethodError)):
        return NotFoundError(named)
    if isinstance(exc, (msgspec.DecodeError, ValueError, TypeError)):
        return BadRequestError(str(exc))
    if isinstance(exc, CrossShardTimeout):
        return ShardTimeoutError(named)
    if isinstance(exc, (CrossShardError, RuntimeLayerError)):
        return ShardCallError(named)
    return MethodFailedError(named)
