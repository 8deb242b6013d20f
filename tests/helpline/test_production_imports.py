"""The platform emulators serve the demo and the tests only: what production roles load never
imports them (a production install runs no fake platform)."""

from __future__ import annotations

import subprocess
import sys

PRODUCTION = """
import sys
import redis.asyncio as redis
from helpline.cli import app
from helpline.config import Settings
from helpline.runtime import build_router, make_bus, make_store, run_roles
from helpline.console.app import create_app
from helpline.console.services import Services
from helpline.health.heartbeat import ProcessHealth
from helpline.routing.assignment import AssignmentStore
from helpline.announcements.worker import run_publishing
from helpline.insights.service import run_insights
from helpline.connectors.registry import connector_class

for platform in ("telegram", "x", "mastodon", "null"):
    connector_class(platform)
settings = Settings(accounts=[{"platform": "null", "name": "main"}])
client = redis.Redis()
bus, store, assignments = make_bus(settings, client), make_store(settings, client), AssignmentStore(client)
create_app(Services.build(settings, client, bus, store, assignments, {}, ProcessHealth()))
build_router(settings, client, store, assignments, {})
print(" ".join(sorted(m for m in sys.modules if "emulator" in m)) or "none")
"""


def test_production_roles_load_no_emulator() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PRODUCTION], capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "none"
