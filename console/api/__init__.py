"""The console's REST API, mounted under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from . import admin, agents, canned, contacts, conversations, events, examples

PREFIX = "/api/v1"


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    for module in (conversations, canned, contacts, agents, admin, events, examples):
        router.include_router(module.router)
    return router
