"""What the server's `/metrics` exports: the process' Prometheus registry less the families
of libraries it loads but never drives.

Feast defines its feature server's metrics (`feast.metrics`: CPU, memory, requests,
materialization, freshness ..., all named `feast_*`) in the default registry when that
module is imported, which `FeatureStore` does lazily on its way (transformations, offline
reads). Only Feast's own feature server, with its metrics enabled, ever updates them; here
each would stay 0 for the life of the server (a scrape would read "no online feature
requests", "0 % CPU"). KServe's `/metrics` exports the whole default registry, so this
route replaces it. The families are left out when exported rather than unregistered: the
import can happen at any time, and Feast's code keeps its objects either way.

The real series stay: KServe's latency histograms (`request_*_seconds`, updated on every
request) and prometheus_client's process and Python collectors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

PATH = "/metrics"
#: name prefixes of the families salesops never updates
NOT_UPDATED = ("feast_",)


class ExportedRegistry:
    """The default registry, as `generate_latest` reads a registry, less NOT_UPDATED."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client import REGISTRY

        for family in REGISTRY.collect():
            if not family.name.startswith(NOT_UPDATED):
                yield family


async def metrics(request):
    """The `/metrics` route (a Starlette one: it takes the request), in the format the
    scraper accepts (text or OpenMetrics), as KServe's handler does it."""
    from prometheus_client import exposition
    from starlette.responses import Response

    encoder, content_type = exposition.choose_encoder(request.headers.get("accept"))
    return Response(content=encoder(ExportedRegistry()),
                    headers={"content-type": content_type})


def replace_route(app) -> None:
    """Serve `metrics` at PATH instead of KServe's handler: first in the routes, since the
    first match answers (FastAPI keeps an included router's routes inside it, so KServe's
    cannot be taken out)."""
    from starlette.routing import Route

    app.router.routes.insert(0, Route(PATH, metrics, methods=["GET"]))
