"""The interactive API description at /api/docs, with Swagger UI served from this server.

The assets come from the pinned `fastapi-offline` package (no CDN: a script from another origin
would run inside the console's), and the page starts Swagger UI from a file under /static, so it
keeps the console's strict Content-Security-Policy (no inline script).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/static/swagger"
ASSETS = StaticFiles(directory=str(Path(fastapi_offline.__file__).parent / "static"))

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Helpline API</title>
<link rel="icon" href="{ASSETS_PATH}/favicon.png">
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@router.get("/api/docs")
async def api_docs() -> HTMLResponse:
    return HTMLResponse(_PAGE)
