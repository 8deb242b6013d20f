"""The console API answers client errors with 4xx in its documented shapes, never 5xx:
the field reports' cases, then schemathesis over the whole OpenAPI description."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from helpline.bots.examples import ExampleStore, Source
from helpline.connectors.emulation import serve

from .helpers import Desk

EXAMPLES_PER_OPERATION = 8  # bounded: the whole run stays well under a minute
SKIPPED = ("/api/v1/events/stream",)  # an endless event stream, not a request/response
DEGRADED_IS_503 = ("/healthz",)  # a health probe answers 503 by design while the desk is degraded


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


async def test_reported_client_errors_are_4xx(desk: Desk) -> None:
    admin = desk.client()
    headers = await desk.token("root")
    for method, path in (("POST", "/api/v1/canned"), ("PUT", "/api/v1/canned/greet")):
        for texts in ({}, {"en": ""}, {"en": "  "}):
            response = await admin.request(method, path, headers=headers, json={"title": "t", "texts": texts})
            assert response.status_code == 422, (method, texts, response.text)
            assert isinstance(response.json()["detail"], list)
    response = await admin.put(
        "/api/v1/canned/Not%20An%20Id", headers=headers, json={"title": "t", "texts": {"en": "x"}}
    )
    assert response.status_code == 422
    meg = await desk.token("meg")
    draft = {
        "text": "maintenance",
        "targets": [{"platform": "null", "account": "main"}],
        "publish_at": "2030-01-01T09:00",
    }
    for zone in ("America", "A" * 300, "../../etc/passwd", "Nowhere/City"):
        response = await admin.post("/api/announcements/preview", headers=meg, json={**draft, "timezone": zone})
        assert response.status_code == 422, (zone, response.text)
    for cursor in (_cursor([1e999, []]), _cursor([1.5, []]), _cursor([-1, []]), _cursor(["x", 5]), "!!", "e30"):
        response = await admin.get("/api/v1/conversations", headers=headers, params={"cursor": cursor})
        assert response.status_code == 422, (cursor, response.text)
        assert isinstance(response.json()["detail"], list)
    session, _ = await desk.login("amy")
    page = await session.get("/", params={"cursor": _cursor([1e999, []])})
    assert page.status_code == 200  # the inbox page starts from the top


@pytest.mark.timeout(600)
async def test_openapi_operations_never_answer_5xx_nor_outside_their_schema(desk: Desk) -> None:
    conversation = await desk.conversation()
    example = await ExampleStore(desk.parts.client).propose("2fa-reset", "en", "lost my phone", Source.LINK)
    assert example is not None
    headers = await desk.token("root")
    async with serve(desk.app) as url:
        failures = await asyncio.to_thread(
            _run_schemathesis, url, headers, {"conversation_id": conversation, "example_id": example.id}
        )
    assert failures == [], "\n\n".join(failures[:5])


def _run_schemathesis(url: str, headers: dict[str, str], existing: dict[str, str]) -> list[str]:
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    failures: list[str] = []
    calls: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIPPED:
            continue
        operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            calls.append(case.path)
            for name, value in existing.items():
                if name in (case.path_parameters or {}) and len(calls) % 2:
                    case.path_parameters[name] = value  # reach the handlers, not only the 404
            response = case.call(base_url=url, headers=headers, timeout=30)
            checks = [response_schema_conformance]
            if case.path not in DEGRADED_IS_503:
                checks.append(not_a_server_error)
            case.validate_response(response, checks=checks)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations > 40 and len(calls) > operations * 3
    return failures
