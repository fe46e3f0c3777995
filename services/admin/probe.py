"""Metrics of the admin API, bumped by intent (`probe.request_served("call")`).

Owns the requests-per-route counters and the `/metrics` scrape latency (gathering every
shard's families over the runtime, then rendering). Never reads a clock itself: the service
times the scrape and hands over microseconds.
"""

from __future__ import annotations

import functools

from panda.runtime.metrics import MetricsRegistry

ROUTES = ("metrics", "status", "call")


class AdminProbe:
    def __init__(self, metrics: MetricsRegistry) -> None:
        self.requests = dict.fromkeys(ROUTES, 0)
        for route in ROUTES:
            metrics.counter("panda_admin_requests_total", "Admin API requests served, per route",
                            functools.partial(self.requests.__getitem__, route),
                            labels={"route": route})
        self._scrape_latency = metrics.histogram(
            "panda_admin_scrape_latency_seconds",
            "/metrics: time to gather every shard's metrics and render them")

    def request_served(self, route: str) -> None:
        self.requests[route] += 1

    def scraped(self, latency_us: int) -> None:
        self.requests["metrics"] += 1
        self._scrape_latency.observe(latency_us)
