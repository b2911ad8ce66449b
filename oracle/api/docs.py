"""``/redoc`` that renders offline. fastapi-offline serves swagger-ui and redoc from the installed
package, but its redoc bundle still loads one image, the Redocly badge, from cdn.redoc.ly; this
serves the same bundle with that image replaced by an inline one, so no request leaves the host."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, Response

REDOC_BUNDLE = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
CDN_BADGE = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
INLINE_BADGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 1 1'/%3E"


@cache
def redoc_bundle() -> bytes:
    return REDOC_BUNDLE.read_bytes().replace(CDN_BADGE, INLINE_BADGE)


def add_offline_redoc(app: FastAPI, path: str = "/redoc") -> None:
    @app.get(f"{path}/redoc.standalone.js", include_in_schema=False)
    def bundle() -> Response:
        return Response(redoc_bundle(), media_type="application/javascript")

    @app.get(path, include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{path}/redoc.standalone.js",
            redoc_favicon_url="/static-offline-docs/favicon.png",
            with_google_fonts=False,
        )
