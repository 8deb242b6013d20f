"""REST API and console page of announcements: `announcements_router(require_role, client=...,
conversations=..., accounts=..., connectors=...)`, each dependency passed by the app that mounts it.

`require_role(name)` is the console's dependency factory; the value its dependency returns names
the actor (a str, or an object with `username` or `id`). Roles: "marketing" composes, edits,
schedules and submits; "supervisor" approves or rejects and handles incidents; reading takes
`view_role` ("agent" by default: the console decides who counts as one). The console also passes
its `shell`, so the page renders inside the product's shared layout and navigation.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import redis.asyncio as redis
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from helpline.base.web import RequireRole, Shell
from helpline.connectors.base import AccountSettings, Connector
from helpline.connectors.registry import capabilities_lookup
from helpline.routing.assignment import AssignmentStore
from helpline.routing.store import ConversationStore

from .deliveries import DeliveryStore
from .errors import AnnouncementError, Conflict, InvalidTransition, NotFound, Refused
from .incident_flow import resolve_all
from .incidents import Incident, IncidentStore
from .models import Announcement, Image, IncidentSpec, State, Target, parse_publish_at
from .render import Rendering, render_target
from .settings import AnnouncementSettings
from .store import AnnouncementStore
from .subscribers import SubscriberStore
from .workflow import Workflow

HERE = Path(__file__).parent
STATIC = {"announcements.js": "text/javascript", "announcements.css": "text/css"}


def page_templates(shell: Shell | None) -> tuple[Jinja2Templates, str]:
    """Our templates, then the shell's (a ChoiceLoader), and the layout the page extends: the
    shell's, or our bare layout.html when mounted without one."""
    own = FileSystemLoader(HERE / "templates")
    loader = ChoiceLoader([own, shell.loader]) if shell else own
    env = Environment(loader=loader, autoescape=select_autoescape())
    return Jinja2Templates(env=env), shell.layout if shell else "layout.html"


class Draft(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = ""
    text: str
    overrides: dict[str, str] = Field(default_factory=dict)
    images: list[Image] = Field(default_factory=list)
    targets: list[Target]
    publish_at: str | None = None  # ISO time, or "now"/None
    timezone: str = "UTC"
    incident: IncidentSpec | None = None


class Schedule(BaseModel):
    publish_at: str | None = None
    timezone: str = "UTC"


class Comment(BaseModel):
    comment: str = ""


class Closing(BaseModel):
    closing_text: str = Field(min_length=1, max_length=4000)


def actor_name(value: Any) -> str:
    if isinstance(value, str):
        return value
    for attribute in ("username", "id", "name"):
        found = getattr(value, attribute, None)
        if found:
            return str(found)
    return "unknown"


def rendering_json(target: Target, r: Rendering) -> dict[str, Any]:
    return {
        "target": target.key,
        "platform": r.platform,
        "limit": r.limit,
        "refused": r.refused,
        "parse_mode": r.parse_mode,
        "warnings": list(r.warnings),
        "parts": [{"text": p.visible, "posted_text": p.text, "length": p.length} for p in r.parts],
    }


def announcements_router(
    require_role: RequireRole,
    *,
    client: redis.Redis,
    conversations: ConversationStore,
    accounts: Sequence[AccountSettings],
    connectors: Mapping[tuple[str, str], Connector],
    settings: AnnouncementSettings | None = None,
    view_role: str = "agent",
    shell: Shell | None = None,
) -> APIRouter:
    """`conversations`: where incidents resolve their linked conversations; `accounts` and
    `connectors`: the configured accounts and their connectors (asked for their capabilities)."""
    settings = settings or AnnouncementSettings()
    capabilities = capabilities_lookup(accounts, connectors)
    store = AnnouncementStore(client)
    workflow = Workflow(store, settings, capabilities, accounts)
    deliveries = DeliveryStore(client)
    incidents = IncidentStore(client)
    subscribers = SubscriberStore(client)
    assignments = AssignmentStore(client)
    templates, layout = page_templates(shell)
    marketing = Annotated[Any, Depends(require_role("marketing"))]
    supervisor = Annotated[Any, Depends(require_role("supervisor"))]
    viewer = Annotated[Any, Depends(require_role(view_role))]
    router = APIRouter()

    def preview_of(a: Announcement) -> list[dict[str, Any]]:
        return [rendering_json(t, render_target(a, t, capabilities)) for t in a.targets]

    async def view(a: Announcement) -> dict[str, Any]:
        progress = await store.progress(a.id)
        return {
            **a.model_dump(mode="json"),
            "local_publish_at": (a.local_publish_at() or a.created_at).isoformat() if a.publish_at else None,
            "requires_approval": settings.requires_approval(a),
            "progress": {
                "total": progress.total,
                "sent": progress.sent,
                "failed": progress.failed,
                "uncertain": progress.uncertain,
                "pending": progress.pending,
            },
            "preview": preview_of(a),
        }

    def draft_from(body: Draft, actor: str) -> Announcement:
        try:
            return Announcement(
                id="preview",
                title=body.title,
                text=body.text,
                overrides=body.overrides,
                images=tuple(body.images),
                targets=tuple(body.targets),
                publish_at=parse_publish_at(body.publish_at, body.timezone),
                timezone=body.timezone,
                incident=body.incident,
                created_by=actor,
            )
        except (ValidationError, ValueError) as exc:
            raise HTTPException(
                422, str(exc).splitlines()[0] if not isinstance(exc, ValidationError) else exc.errors()[0]["msg"]
            ) from None

    async def call(action: Any) -> Any:
        try:
            return await action
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except (InvalidTransition, Conflict) as exc:
            raise HTTPException(409, str(exc)) from None
        except (Refused, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        except AnnouncementError as exc:
            raise HTTPException(400, str(exc)) from None

    # --- compose --------------------------------------------------------------------------------
    @router.post("/api/announcements/preview", tags=["announcements"])
    async def preview(body: Draft, who: marketing) -> dict[str, Any]:
        """Rendering per target with character counts; refusals say why."""
        return {"targets": preview_of(draft_from(body, actor_name(who)))}

    @router.post("/api/announcements", status_code=201, tags=["announcements"])
    async def compose(body: Draft, who: marketing) -> dict[str, Any]:
        d = draft_from(body, actor_name(who))
        a = await call(
            workflow.compose(
                text=d.text,
                targets=d.targets,
                actor=actor_name(who),
                title=d.title,
                overrides=d.overrides,
                images=d.images,
                publish_at=d.publish_at,
                timezone=d.timezone,
                incident=d.incident,
            )
        )
        return await view(a)

    @router.patch("/api/announcements/{announcement_id}", tags=["announcements"])
    async def edit(announcement_id: str, body: Draft, who: marketing) -> dict[str, Any]:
        d = draft_from(body, actor_name(who))
        changes = d.model_dump(
            include={"text", "title", "overrides", "images", "targets", "incident", "publish_at", "timezone"}
        )
        return await view(await call(workflow.edit(announcement_id, actor_name(who), **changes)))

    @router.put("/api/announcements/{announcement_id}/schedule", tags=["announcements"])
    async def schedule(announcement_id: str, body: Schedule, who: marketing) -> dict[str, Any]:
        try:
            when = parse_publish_at(body.publish_at, body.timezone)
        except ValueError as exc:
            raise HTTPException(422, f"publish_at: {exc}") from None
        return await view(await call(workflow.schedule(announcement_id, when, body.timezone)))

    @router.post("/api/announcements/{announcement_id}/submit", tags=["announcements"])
    async def submit(announcement_id: str, who: marketing) -> dict[str, Any]:
        return await view(await call(workflow.submit(announcement_id, actor_name(who))))

    @router.post("/api/announcements/{announcement_id}/unschedule", tags=["announcements"])
    async def unschedule(announcement_id: str, who: marketing) -> dict[str, Any]:
        return await view(await call(workflow.unschedule(announcement_id, actor_name(who))))

    # --- approval -------------------------------------------------------------------------------
    @router.post("/api/announcements/{announcement_id}/approve", tags=["announcements"])
    async def approve(
        announcement_id: str,
        who: supervisor,
        body: Comment = Body(default_factory=Comment),  # noqa: B008
    ) -> dict[str, Any]:
        return await view(await call(workflow.approve(announcement_id, actor_name(who), body.comment)))

    @router.post("/api/announcements/{announcement_id}/reject", tags=["announcements"])
    async def reject(announcement_id: str, body: Comment, who: supervisor) -> dict[str, Any]:
        return await view(await call(workflow.reject(announcement_id, actor_name(who), body.comment)))

    # --- reading ----------------------------------------------------------------------------------
    @router.get("/api/announcements", tags=["announcements"])
    async def listing(
        who: viewer, state: Annotated[list[State] | None, Query()] = None, limit: int = 50
    ) -> dict[str, Any]:
        items = await store.recent(limit=min(limit, 200), states=state or ())
        return {"announcements": [await view(a) for a in items]}

    @router.get("/api/announcements/{announcement_id}", tags=["announcements"])
    async def one(announcement_id: str, who: viewer) -> dict[str, Any]:
        return await view(await call(store.get(announcement_id)))

    @router.get("/api/announcements/{announcement_id}/deliveries", tags=["announcements"])
    async def delivery_status(announcement_id: str, who: viewer, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        await call(store.get(announcement_id))
        records = await deliveries.list(announcement_id, offset=max(0, offset), limit=min(max(1, limit), 1000))
        return {"deliveries": [d.model_dump(mode="json") for d in records]}

    @router.get("/api/announcements-subscribers/{account}", tags=["announcements"])
    async def subscriber_count(account: str, who: viewer) -> dict[str, Any]:
        return {"account": account, "subscribers": await subscribers.count(account)}

    # --- incidents --------------------------------------------------------------------------------
    @router.get("/api/incidents", tags=["incidents"])
    async def incident_list(who: viewer, open_only: bool = False) -> dict[str, Any]:
        """Linked conversations are listed to those who see every conversation (the console's
        `sees_all`: supervisors and admins); the others get how many there are."""
        found = await incidents.recent(open_only=open_only)
        sees_all = bool(getattr(who, "sees_all", False))
        out = []
        for i in found:
            linked = await incidents.conversations(i.id)
            out.append(
                {
                    **i.model_dump(mode="json"),
                    "conversation_count": len(linked),
                    "conversations": linked if sees_all else [],
                }
            )
        return {"incidents": out}

    @router.post("/api/incidents/{incident_id}/close", tags=["incidents"])
    async def incident_close(incident_id: str, who: supervisor) -> dict[str, Any]:
        closed: Incident = await call(incidents.close(incident_id, actor_name(who)))
        return closed.model_dump(mode="json")

    @router.post("/api/incidents/{incident_id}/resolve-all", tags=["incidents"])
    async def incident_resolve_all(incident_id: str, body: Closing, who: supervisor) -> dict[str, Any]:
        actor = f"agent:{actor_name(who)}"
        resolved = await call(
            resolve_all(conversations, incidents, incident_id, body.closing_text, actor, assignments=assignments)
        )
        return {"incident": incident_id, "resolved": resolved}

    # --- console page -------------------------------------------------------------------------------
    @router.get("/announcements", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request, who: viewer) -> HTMLResponse:
        publishing = [
            {"platform": a.platform, "name": a.name}
            for a in accounts
            if (caps := capabilities(a.platform, a.name)) is not None and caps.announcements
        ]
        chrome = await shell.context(request, who) if shell else {}
        context = {**chrome, "layout": layout, "accounts": publishing, "actor": actor_name(who)}
        return templates.TemplateResponse(request, "announcements.html", context)

    @router.get("/static/announcements/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in STATIC:  # a fixed list: no path from the request reaches the file system
            raise HTTPException(404, "not found")
        return FileResponse(
            HERE / "static" / name,
            media_type=STATIC[name],
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    @router.get("/api/announcements-health", include_in_schema=False)
    async def health() -> JSONResponse:
        return JSONResponse({"ok": True})

    return router
