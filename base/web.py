"""What a package that serves pages needs of the app that mounts it (the console is that app;
declared here so that no package imports the console)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from fastapi import Request
from jinja2 import BaseLoader

#: The host app's `require_role("supervisor")`: a FastAPI dependency that yields the caller.
RequireRole = Callable[[str], Callable[..., Any]]


class Shell(Protocol):
    """The host app's page chrome (the console's `console.shell.Shell` is one): a loader that
    holds its `layout` template, and the context that layout needs for the caller."""

    layout: str
    loader: BaseLoader

    async def context(self, request: Request, who: Any) -> dict[str, Any]: ...
