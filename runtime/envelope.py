"""Wire format of cross-shard calls: msgspec msgpack, array-like tagged structs.

Senders encode plain tuples laid out like the tagged structs, tag first, e.g.
`(ONE_WAY, service, method, args)`: the same bytes as the struct without building one per call,
argument and result values encoded directly inside. Receivers decode envelopes with those parts
left Raw, then decode them with the method's own type hints, before the ring space they point
into is released. A coalesced record (ring BATCH) is a msgpack array of envelopes, decoded by
one `batch_decoder` call.
"""

from __future__ import annotations

from typing import Any

import msgspec

REQUEST = 0
ONE_WAY = 1
REPLY = 2
FAILURE = 3
CANCEL = 4


class Request(msgspec.Struct, array_like=True, tag=REQUEST):
    call_id: int
    service: str
    method: str
    args: msgspec.Raw


class OneWay(msgspec.Struct, array_like=True, tag=ONE_WAY):
    service: str
    method: str
    args: msgspec.Raw


class Reply(msgspec.Struct, array_like=True, tag=REPLY):
    call_id: int
    value: msgspec.Raw


class ErrorInfo(msgspec.Struct, array_like=True):
    module: str
    qualname: str
    args: list[Any]
    message: str
    traceback: str
    shard: int


class Failure(msgspec.Struct, array_like=True, tag=FAILURE):
    call_id: int
    error: ErrorInfo


class Cancel(msgspec.Struct, array_like=True, tag=CANCEL):
    call_id: int


Inbound = Request | OneWay | Reply | Failure | Cancel


encoder = msgspec.msgpack.Encoder()
inbound_decoder = msgspec.msgpack.Decoder(Inbound)
batch_decoder = msgspec.msgpack.Decoder(list[Inbound])
