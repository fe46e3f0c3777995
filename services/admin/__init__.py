"""Admin API: Prometheus metrics of every shard and service calls over HTTP, on shard 0;
`panda` (ctl.py), the command line that talks to it."""

from .config import AdminConfig
from .service import AdminService

__all__ = ["AdminConfig", "AdminService"]
