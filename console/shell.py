"""The product's page chrome: one layout (templates/base.html) with the shared navigation, the
user's name, the presence toggle and logout, styled by static/console.css.

Reports (insights) and announcements are packages of their own; the console mounts their routers
and hands them this shell, as it hands them `require_role`. Their Jinja environments then load
their own templates first and ours second (a ChoiceLoader), so their pages extend "base.html" and
render inside the same navigation; without a shell (standalone, tests) they fall back to a bare
layout of their own. `context` is all the layout needs, for console pages and mounted pages alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import BaseLoader, FileSystemLoader

from .auth import role_names
from .roles import Principal, nav
from .services import services

TEMPLATES = Path(__file__).parent / "templates"


async def layout_context(request: Request, who: Principal | None) -> dict[str, Any]:
    """What base.html needs: the user, the pages they may open, their presence, the CSRF token, the
    settings they chose (console/users.py Preferences, for static/common.js); and
    `passes`, the role names (as `require_role` takes them) the user passes, so a mounted page can
    hide the actions its API would refuse."""
    if who is None:
        return {
            "request": request,
            "who": None,
            "nav": [],
            "presence": None,
            "csrf": "",
            "passes": frozenset(),
            "preferences": {},
        }
    svc = services(request)
    roster = await svc.assignments.roster()
    presence = next((a.agent.presence.value for a in roster if a.agent.id == who.username), None)
    user = await svc.users.get(who.username)
    chosen = user.preferences.model_dump(exclude_none=True) if user else {}
    return {
        "request": request,
        "who": who,
        "nav": nav(who),
        "presence": presence,
        "csrf": who.csrf or "",
        "passes": role_names(who.role),
        "preferences": chosen,
    }


class Shell:
    """The console's layout for routers mounted from other packages (insights, announcements)."""

    layout = "base.html"

    def __init__(self) -> None:
        self.loader: BaseLoader = FileSystemLoader(TEMPLATES)

    async def context(self, request: Request, who: Any) -> dict[str, Any]:
        """`who` is what the console's `require_role` returned: a Principal."""
        return await layout_context(request, who if isinstance(who, Principal) else None)
