"""Admin API: Prometheus metrics of every shard and service calls over HTTP, on shard 0."""

from .service import AdminService

__all__ = ["AdminService"]
