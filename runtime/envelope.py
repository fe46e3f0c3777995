"""Wire format of cross-shard calls: msgspec msgpack, array-like tagged structs.

Senders encode argument and result values directly inside the envelope; receivers decode the
envelope with those parts left Raw, then decode them with the method's own type hints, before
the ring space they point into is released.
"""

from __future__ import annotations

from typing import Any

import msgspec


class RequestOut(msgspec.Struct, array_like=True, tag=0):
    call_id: int
    service: str
    method: str
    args: tuple


class Request(msgspec.Struct, array_like=True, tag=0):
    call_id: int
    service: str
    method: str
    args: msgspec.Raw


class OneWayOut(msgspec.Struct, array_like=True, tag=1):
    service: str
    method: str
    args: tuple


class OneWay(msgspec.Struct, array_like=True, tag=1):
    service: str
    method: str
    args: msgspec.Raw


class ReplyOut(msgspec.Struct, array_like=True, tag=2):
    call_id: int
    value: Any


class Reply(msgspec.Struct, array_like=True, tag=2):
    call_id: int
    value: msgspec.Raw


class ErrorInfo(msgspec.Struct, array_like=True):
    module: str
    qualname: str
    args: list[Any]
    message: str
    traceback: str
    shard: int


class Failure(msgspec.Struct, array_like=True, tag=3):
    call_id: int
    error: ErrorInfo


class Cancel(msgspec.Struct, array_like=True, tag=4):
    call_id: int


Inbound = Request | OneWay | Reply | Failure | Cancel

encoder = msgspec.msgpack.Encoder()
inbound_decoder = msgspec.msgpack.Decoder(Inbound)
