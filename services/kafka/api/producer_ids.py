"""InitProducerId for idempotent producers: a producer id unique on this node across
restarts (wall-clock milliseconds, shard-strided), epoch 0. Transactional ids wait for the
transaction coordinator (the exactly-once issue) and are refused clearly until then."""

from __future__ import annotations

import itertools
import time

from panda.net.kafka import ErrorCode
from panda.net.kafka.messages import InitProducerIdResponse

_sequence = itertools.count()


def next_producer_id(shard: int, smp: int) -> int:
    """Unique per node while the clock moves forward: ms timestamp, then a strided counter."""
    return (int(time.time() * 1000) << 16) + (next(_sequence) % 4096) * smp + shard


async def init_producer_id(ctx, header, body) -> InitProducerIdResponse:
    if body.transactional_id:
        return InitProducerIdResponse(error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    if body.producer_id >= 0:           # KIP-360 epoch bump: keep the id, next epoch
        return InitProducerIdResponse(producer_id=body.producer_id,
                                      producer_epoch=(body.producer_epoch + 1) % 32767)
    return InitProducerIdResponse(producer_id=next_producer_id(ctx.shard, ctx.smp),
                                  producer_epoch=0)
