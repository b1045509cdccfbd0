"""The daemon's HTTP listener: ``/metrics``, ``/healthz``, ``/readyz`` and the opt-in ``POST /-/reload``.

One small aiohttp app on ``[daemon].metrics_listen``. ``POST /-/reload`` exists for platforms where sending
SIGHUP is awkward (ECS: ``aws ecs execute-command ... curl -X POST``, or a sidecar): it is off unless
``[reload].http_endpoint = true`` (404 otherwise, so its existence is not advertised) and answers only the
client addresses in ``[reload].http_allow`` (loopback by default, 403 for others), because the metrics
port is often reachable by a whole cluster and a reload is a control action.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from trailwatchd.config import ReloadConfig
from trailwatchd.errors import ConfigError
from trailwatchd.reload import ReloadOutcome

log = structlog.get_logger()

RELOAD_STATUS = {"success": 200, "failure": 422, "refused": 409}
"""HTTP status of a reload answer: 422 = the new files are invalid, 409 = they cannot apply live."""


def parse_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:9108"`` -> (host, port); ``"[::1]:9108"`` works too."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"expected HOST:PORT, got {listen!r}", key="daemon.metrics_listen")
    return host.strip("[]"), int(port)


def client_allowed(remote: str | None, allow: list[str]) -> bool:
    """Is ``remote`` one of the allowed addresses (IPv4-mapped IPv6 compares as IPv4)?"""
    if not remote:
        return False
    try:
        addr = ipaddress.ip_address(remote)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    for item in allow:
        try:
            if addr in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            continue
    return False


@dataclass(slots=True)
class Endpoints:
    """What the listener reads from the daemon (callables, so it always sees the current state)."""

    registry: CollectorRegistry
    waiting_sources: Callable[[], list[str] | None]
    """None = ready; otherwise the sources that have not completed a poll yet."""
    reload_settings: Callable[[], ReloadConfig]
    reload: Callable[[str], Awaitable[ReloadOutcome]]


async def start_http(endpoints: Endpoints, listen: str, stack: AsyncExitStack) -> int:
    """Serve until ``stack`` closes; returns the bound port (``:0`` picks a free one, for tests)."""

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(endpoints.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        waiting = endpoints.waiting_sources()
        if waiting is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: waiting for sources {waiting}\n")

    async def reload(request: web.Request) -> web.Response:
        settings = endpoints.reload_settings()
        if not settings.http_endpoint:
            raise web.HTTPNotFound(text="POST /-/reload is off; set [reload].http_endpoint = true\n")
        if not client_allowed(request.remote, settings.http_allow):
            log.warning("config_reload_forbidden", client=request.remote)
            raise web.HTTPForbidden(
                text=f"{request.remote} is not in [reload].http_allow ({', '.join(settings.http_allow)})\n"
            )
        outcome = await endpoints.reload("http")
        return web.json_response(outcome.to_json(), status=RELOAD_STATUS[outcome.result])

    app = web.Application()
    app.add_routes(
        [
            web.get("/metrics", metrics),
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.post("/-/reload", reload),
        ]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    host, port = parse_listen(listen)
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    bound: int = sockets[0].getsockname()[1] if sockets else port
    log.info("metrics_listening", address=f"{host}:{bound}")
    return bound
