"""`panda`: talk to a running node through its admin API (status, metrics, service calls).

Owns the client side of the admin service's HTTP routes; it reaches the node only over HTTP.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

import click

from .config import AdminConfig

DEFAULT_ADMIN = AdminConfig().addr


def _request(admin: str, path: str, body: bytes | None = None) -> bytes:
    url = f"http://{admin}{path}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=60) as resp:
            return resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        exc.close()
        raise click.ClickException(f"{exc.code} from {url}: {detail}") from None
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach the node at {admin}: {exc.reason}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--admin-addr", default=DEFAULT_ADMIN, show_default=True,
              help="the node's admin API [host:port]")
@click.pass_context
def command(ctx: click.Context, admin_addr: str) -> None:
    """Operate a running panda-runtime node."""
    ctx.obj = admin_addr


@command.command()
@click.pass_obj
def status(admin: str) -> None:
    """Node id, shard count and where each service runs."""
    click.echo(json.dumps(json.loads(_request(admin, "/v1/status")), indent=2))


@command.command()
@click.pass_obj
def metrics(admin: str) -> None:
    """Every shard's metrics, Prometheus text."""
    sys.stdout.write(_request(admin, "/metrics").decode())


def _argument(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@command.command()
@click.argument("service")
@click.argument("method")
@click.argument("args", nargs=-1)
@click.option("--shard", type=int, help="shard to call (default: the service's first)")
@click.pass_obj
def call(admin: str, service: str, method: str, args: tuple[str, ...], shard: int | None) -> None:
    """Call SERVICE.METHOD with ARGS (JSON values, or plain strings)."""
    query = f"?shard={shard}" if shard is not None else ""
    body = json.dumps([_argument(a) for a in args]).encode()
    result = json.loads(_request(admin, f"/v1/services/{service}/{method}{query}", body))
    click.echo(json.dumps(result["result"]))


def main() -> None:
    command()
