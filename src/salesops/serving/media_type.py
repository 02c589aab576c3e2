"""Which V1 request bodies the server reads: JSON, or a body without Content-Type from a
client that is not a browser.

KServe decodes a V1 body as JSON when its Content-Type is absent or exactly one of its JSON
types, and hands any other body on as bytes, which `entities.keys_from_v1` reads as JSON
too (it must: `application/json; charset=utf-8` arrives that way). So a web page could post
JSON as `text/plain`, a form or multipart, the types a browser sends cross-site with no CORS
preflight, to the unauthenticated server on localhost, and every row it had scored would
land in the prediction log that `drift` reads; the page cannot read the answer, and need
not. Such requests are refused with 415 before their body is read. As `app` does for an
untyped V2 body, a body without Content-Type is JSON only without `Origin` (curl, scripts,
the CLI): a page's `fetch()` of a Blob without a type sends none, but says where it is from.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

log = logging.getLogger("salesops.serving")
V1_PREFIX = "/v1/"
#: what KServe's V1 reads as JSON (application/octet-stream among them), besides `+json`
#: types; a browser sends none of them cross-site without a preflight, which this server
#: does not answer
JSON_TYPES = frozenset({"application/json", "application/octet-stream"})
ASK = "send the JSON with Content-Type: application/json"


def refusal(method: str, path: str, headers: Mapping[bytes, bytes]) -> str | None:
    """Why a request (ASGI method, path and lower-case headers) is refused; None if taken."""
    if method != "POST" or not path.startswith(V1_PREFIX):
        return None
    declared = headers.get(b"content-type")
    if declared is None:
        if b"origin" in headers:
            return f"a V1 body without Content-Type from a web page is not read; {ASK}"
        return None
    media = declared.split(b";", 1)[0].strip().lower().decode("latin-1")
    if media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
        return None
    return f"Content-Type {media or '(empty)'} is not JSON; {ASK}"


class V1MediaTypeGuard:
    """ASGI middleware: V1 POSTs that `refusal` refuses are answered 415."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            problem = refusal(scope["method"], scope["path"], dict(scope["headers"]))
            if problem is not None:
                from starlette.responses import JSONResponse

                log.info("%s %s: 415 %s", scope["method"], scope["path"], problem)
                response = JSONResponse({"error": problem}, status_code=415)
                return await response(scope, receive, send)
        await self.app(scope, receive, send)
