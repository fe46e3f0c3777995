"""The Kafka listener on every shard (SO_REUSEPORT) and its connections.

A connection reads size-prefixed frames, decodes each, runs its handler as a task and writes
responses strictly in request order (pipelining). A frame over kafka.request_bytes_max, or
one that does not decode, closes that connection only; the shard serves the others.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import struct
import time
from typing import Any

from panda import runtime
from panda.net.kafka import ProtocolError, ResponseHeader, decode_request, encode_response
from panda.runtime import ALL, Service

from .api.context import RequestContext
from .api.registry import API_HANDLERS, API_VERSIONS_KEY, unsupported_version_response
from .config import KafkaConfig
from .partition_manager import PartitionManager
from .probe import KafkaProbe

log = logging.getLogger("panda.services.kafka.server")
_SIZE = struct.Struct(">i")
_NO_HANDLER = (None, 0, -1)
IN_FLIGHT_REQUESTS_MAX = 256          # per connection: reading pauses past this
SMALL_BUFFER_BYTES = 64 * 1024        # frames up to this share one receive buffer


def _split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host or "127.0.0.1", int(port)


class KafkaServer(Service):
    name = "kafka"
    shards = ALL
    depends = (PartitionManager,)
    config_type = KafkaConfig
    config_section = "kafka"
    config: KafkaConfig
    _template: dict[str, Any]       # the RequestContext fields every request shares

    async def start(self) -> None:
        node, config = runtime.current().config, self.config
        host, port = _split_addr(config.addr)
        adv_host, adv_port = _split_addr(config.advertised_addr or config.addr)
        self.probe = KafkaProbe(runtime.current().metrics)
        self._connections: set[KafkaConnection] = set()
        self._template = {
            "shard": self.shard, "smp": self.smp, "node_id": node.node_id,
            "advertised_host": adv_host, "advertised_port": adv_port,
            "data_dir": node.data_dir, "config": config}
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._connection, host, port, reuse_port=True, reuse_address=True, backlog=1024)
        log.info("Kafka API listening on %s:%d", host, port)

    def _connection(self) -> KafkaConnection:
        return KafkaConnection(self)

    async def stop(self) -> None:
        self._server.close()
        for connection in list(self._connections):
            connection.close()
        await self._server.wait_closed()

    def context(self, client_id: str | None, peer: str) -> RequestContext:
        return RequestContext(client_id=client_id, peer=peer, **self._template)


class KafkaConnection(asyncio.BufferedProtocol):
    """One client connection: frames in, handler tasks, responses out in order.

    Small frames are read into one reused buffer; a frame larger than it is read straight
    into a buffer of its own exact size, so a 1 MiB produce is received without copies.
    """

    def __init__(self, server: KafkaServer):
        self._server = server
        self._max_bytes = server.config.request_bytes_max
        self._slow_ms = server.config.slow_request_ms
        self._small = bytearray(SMALL_BUFFER_BYTES)
        self._small_used = 0
        self._frame: bytearray | None = None       # a large frame being filled
        self._frame_filled = 0
        self._replies: collections.deque[asyncio.Future] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self._paused = False
        self._peer = ""

    def connection_made(self, transport) -> None:
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self._server._connections.add(self)
        self._server.probe.connection_opened()

    def connection_lost(self, exc) -> None:
        self._server._connections.discard(self)
        self._server.probe.connection_closed()
        for reply in self._replies:
            reply.cancel()
        self._replies.clear()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._frame is not None:
            return memoryview(self._frame)[self._frame_filled:]
        return memoryview(self._small)[self._small_used:]

    def buffer_updated(self, nbytes: int) -> None:
        if self._frame is not None:
            self._frame_filled += nbytes
            if self._frame_filled == len(self._frame):
                frame, self._frame = self._frame, None
                self._dispatch(frame)
        else:
            self._small_used += nbytes
            self._take_small_frames()
        if len(self._replies) >= IN_FLIGHT_REQUESTS_MAX and not self._paused:
            self._paused = True
            assert self._transport is not None
            self._transport.pause_reading()

    def _take_small_frames(self) -> None:
        small, used, start = self._small, self._small_used, 0
        while used - start >= 4:
            (size,) = _SIZE.unpack_from(small, start)
            if size < 0 or size > self._max_bytes:
                self._reject(f"request of {size} bytes (limit {self._max_bytes})")
                return
            if used - start - 4 >= size:
                frame = bytes(small[start + 4 : start + 4 + size])
                start += 4 + size
                if not self._dispatch(frame):
                    return
            elif size + 4 > len(small):             # too big for the shared buffer
                self._frame = bytearray(size)
                held = used - start - 4
                self._frame[:held] = small[start + 4 : used]
                self._frame_filled = held
                start = used
            else:
                break
        if start:
            small[: used - start] = small[start:used]
        self._small_used = used - start

    def _reject(self, why: str) -> None:
        log.warning("closing connection from %s: %s", self._peer, why)
        self._server.probe.request_rejected()
        self._small_used = 0
        self._frame = None
        self.close()

    def _dispatch(self, frame: bytes | bytearray) -> bool:
        started = time.perf_counter_ns()
        try:
            header, body, trailing = decode_request(frame)
        except ProtocolError as exc:
            if exc.api_key == API_VERSIONS_KEY and len(frame) >= 8:
                self._queue(unsupported_version_response(frame))
                return True
            self._reject(f"malformed request: {exc}")
            return False
        handler, low, high = API_HANDLERS.get(header.request_api_key, _NO_HANDLER)
        if handler is None or not low <= header.request_api_version <= high:
            if header.request_api_key == API_VERSIONS_KEY:
                self._queue(unsupported_version_response(frame))
                return True
            self._reject(f"api {header.request_api_key} v{header.request_api_version} "
                         "is not supported")
            return False
        if trailing:
            self._server.probe.trailing_bytes(trailing)
        ctx = self._server.context(header.client_id, self._peer)
        ctx.timings.decode_us = (time.perf_counter_ns() - started) // 1000
        reply = asyncio.get_running_loop().create_future()
        self._replies.append(reply)
        task = asyncio.get_running_loop().create_task(self._handle(handler, ctx, header, body))
        task.add_done_callback(functools.partial(self._settle, reply))
        return True

    async def _handle(self, handler, ctx: RequestContext, header, body):
        started = time.perf_counter_ns()
        response = await handler(ctx, header, body)
        elapsed_us = (time.perf_counter_ns() - started) // 1000
        self._server.probe.request_done(header.request_api_key, elapsed_us)
        if elapsed_us > self._slow_ms * 1000:
            log.warning("slow request: api=%d v%d client=%s %d us (decode %d us, %s)",
                        header.request_api_key, header.request_api_version, ctx.client_id,
                        elapsed_us, ctx.timings.decode_us,
                        ", ".join(f"{k} {v} us" for k, v in ctx.timings.hops.items()))
        if response is None:
            return None
        return encode_response(ResponseHeader(correlation_id=header.correlation_id), response,
                               header.request_api_key, header.request_api_version, frame=True)

    def _queue(self, data: bytes) -> None:
        reply = asyncio.get_running_loop().create_future()
        reply.set_result(data)
        self._replies.append(reply)
        self._flush()

    def _settle(self, reply: asyncio.Future, task: asyncio.Task) -> None:
        if not reply.done():
            if task.cancelled():
                reply.cancel()
            elif (error := task.exception()) is not None:
                reply.set_exception(error)
            else:
                reply.set_result(task.result())
        self._flush()

    def _flush(self) -> None:
        replies = self._replies
        transport = self._transport
        while replies and replies[0].done():
            reply = replies.popleft()
            if reply.cancelled():
                continue
            error = reply.exception()
            if error is not None:
                log.error("request handler failed; closing %s", self._peer, exc_info=error)
                self.close()
                return
            data = reply.result()
            if data is not None and transport is not None:
                transport.write(data)
        if self._paused and len(replies) < IN_FLIGHT_REQUESTS_MAX // 2 and transport is not None:
            self._paused = False
            transport.resume_reading()

    # asyncio calls these around the transport's write buffer
    def pause_writing(self) -> None:
        if self._transport is not None and not self._paused:
            self._paused = True
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and self._paused:
            self._paused = False
            self._transport.resume_reading()
