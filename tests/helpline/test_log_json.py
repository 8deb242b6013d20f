"""`--log-json`: every line on stderr is one JSON object — uvicorn's, a traceback, a warning."""

from __future__ import annotations

import json
import logging
import sys
import threading
import warnings
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from helpline.connectors.emulation import serve
from helpline.logs import setup_logging


@pytest.fixture
def json_logging(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    setup_logging(json_lines=True)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.fixture
def uvicorn_configured_before() -> Iterator[None]:
    """What uvicorn's default log_config leaves behind in a process that ran one before."""
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate) for n in ("uvicorn",)}
    logging.getLogger("uvicorn").handlers[:] = [logging.StreamHandler(sys.stderr)]
    logging.getLogger("uvicorn").propagate = False
    yield
    for name, (handlers, propagate) in saved.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate


async def test_every_stderr_line_is_json(
    uvicorn_configured_before: None, json_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    async def boom(_: Request) -> Response:
        raise RuntimeError("boom in a handler")

    async with serve(Starlette(routes=[Route("/", boom)])) as url, httpx.AsyncClient() as client:
        assert (await client.get(url + "/")).status_code == 500
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("an old option", DeprecationWarning, stacklevel=1)
    thread = threading.Thread(target=lambda: 1 / 0)
    thread.start()
    thread.join()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # raises on any line that is not JSON
    uvicorn = [r for r in records if r["logger"].startswith("uvicorn")]
    assert uvicorn and "boom in a handler" in uvicorn[0]["exception"] and "Traceback" in uvicorn[0]["exception"]
    assert any(r["logger"] == "py.warnings" and "an old option" in r["message"] for r in records)
    assert any("ZeroDivisionError" in r.get("exception", "") for r in records)
