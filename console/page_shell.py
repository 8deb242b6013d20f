"""The seam between the console (the host app) and packages that add pages to it (reports,
announcements): the page chrome they extend, and how they ask for a role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from fastapi import Request
from jinja2 import BaseLoader

#: `require_role("supervisor")` returns a FastAPI dependency that yields the caller.
RequireRole = Callable[[str], Callable[..., Any]]


class Shell(Protocol):
    """The host app's page chrome (`console.shell.Shell`): a loader that holds its `layout`
    template, and the context that layout needs for the caller (navigation, CSRF)."""

    layout: str
    loader: BaseLoader

    async def context(self, request: Request, who: Any) -> dict[str, Any]: ...
