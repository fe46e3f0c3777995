"""The admin HTTP server on shard 0: `/metrics` gathers every shard's metrics through the
runtime at scrape time; `/v1/services/{service}/{method}` calls a service method on a shard.

It owns nothing but its listener; it reads other shards only through RuntimeControl calls.
"""

from __future__ import annotations

import time

import msgspec
from aiohttp import web

from panda.runtime import ONE, RuntimeControl, Service, current
from panda.runtime.logs import logger
from panda.runtime.metrics import Family as _Family
from panda.runtime.metrics import render_prometheus

from . import errors
from .config import AdminConfig
from .probe import AdminProbe

log = logger("panda.services.admin")
CALL_TIMEOUT_S = 30.0
REQUEST_BYTES_MAX = 1 << 20


class AdminService(Service):
    name = "admin"
    shards = ONE(0)
    config_type = AdminConfig
    config: AdminConfig

    def __init__(self) -> None:
        self.probe = AdminProbe(current().metrics)

    async def start(self) -> None:
        host, _, port = self.config.addr.rpartition(":")
        app = web.Application(client_max_size=REQUEST_BYTES_MAX)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/v1/status", self._status)
        app.router.add_post("/v1/services/{service}/{method}", self._call)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host or "127.0.0.1", int(port))
        await site.start()
        log.info("admin API listening on %s", self.config.addr)

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        started_ns = time.perf_counter_ns()
        shards = await current().service(RuntimeControl).on_all(timeout=CALL_TIMEOUT_S).metrics()
        families = [family for shard in shards for family in shard]
        body = render_prometheus(msgspec.convert(families, list[_Family]))
        self.probe.scraped((time.perf_counter_ns() - started_ns) // 1000)
        return web.Response(body=body, content_type="text/plain", charset="utf-8",
                            headers={"X-Panda-Format": "prometheus-0.0.4"})

    async def _status(self, request: web.Request) -> web.Response:
        self.probe.request_served("status")
        runtime = current()
        body = {"node_id": runtime.config.node_id, "smp": runtime.smp,
                "services": {c.service_name(): list(c.placement(runtime.smp))
                             for c in runtime.classes}}
        return web.json_response(body)

    async def _call(self, request: web.Request) -> web.Response:
        self.probe.request_served("call")
        runtime = current()
        name, method = request.match_info["service"], request.match_info["method"]
        # The runtime's own control service (start/stop/exit) is not for HTTP clients.
        cls = next((c for c in runtime.classes
                    if c.service_name() == name and c is not RuntimeControl), None)
        if cls is None:
            return _error(404, f"no service {name!r} on this node")
        if method.startswith("_"):
            return _error(404, f"UnknownMethodError: {name} has no public method {method!r}")
        try:
            args = msgspec.json.decode(await request.read() or b"[]")
            if not isinstance(args, list):
                return _error(400, "the body must be a JSON array of arguments")
            ref = runtime.service(cls)
            shard = int(request.query.get("shard", ref.shards[0]))
            result = await getattr(ref.on(shard, timeout=CALL_TIMEOUT_S), method)(*args)
        except Exception as exc:  # noqa: BLE001 - answered with its status (errors.py)
            error = errors.for_exception(exc)
            if error.status >= 500:
                log.bind(service=name, method=method).warning("call failed: %s", error)
            return _error(error.status, str(error))
        return web.Response(body=msgspec.json.encode({"result": result}),
                            content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)

