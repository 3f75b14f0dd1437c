"""The API's own documentation page, /api/docs (Swagger UI), served whole by the service.

FastAPI's page loads Swagger UI from a CDN and starts it with an inline script, both of which the
Content-Security-Policy refuses (nothing from another origin, no inline script), so it showed
nothing. Here the page is plain HTML; Swagger UI's script and style come from the packaged copy
(``swagger-ui-bundle-v2``) at /api/docs/, and the code that starts it is web/api-docs.js.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from app.errors import NotFound

router = APIRouter(include_in_schema=False)

# Only what the page uses; the package's own index.html (an inline script) is never served.
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
}

PAGE = """<!doctype html>
<html lang="en-GB">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Teamwell API</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/api/docs/swagger-ui.css">
  <script src="/api/docs/swagger-ui-bundle.js" defer></script>
  <script src="/static/api-docs.js" defer></script>
</head>
<body>
  <main id="swagger-ui" data-openapi-url="/openapi.json"></main>
</body>
</html>
"""


@router.get("/api/docs")
async def api_docs() -> HTMLResponse:
    return HTMLResponse(PAGE)


@router.get("/api/docs/{name}")
async def api_docs_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound("No such file.")
    return FileResponse(Path(str(swagger_ui_path)) / name, media_type=media_type)
