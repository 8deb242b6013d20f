"""`helpline users ...` (accounts, straight in Redis) and `helpline inbox ...` (the REST API over
HTTP, with HELPLINE_URL and HELPLINE_TOKEN). Secrets are read from the environment or a prompt,
never from the command line (which other users can see in the process list)."""

from __future__ import annotations

import os
import sys
import uuid
from typing import Annotated, Any

import httpx
import redis.asyncio as redis
import typer

from helpline.base.commands import RedisOption, fail, with_redis

from .roles import Role
from .tokens import TokenStore
from .users import UserError, UserStore

users_app = typer.Typer(help="Console accounts and API tokens.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for scripts and bots.", no_args_is_help=True)
users_app.add_typer(token_app, name="token")
inbox_app = typer.Typer(help="The agent inbox from a terminal (HELPLINE_URL, HELPLINE_TOKEN).", no_args_is_help=True)


@users_app.command("add")
def add(
    username: Annotated[str, typer.Option(help="login name (also the agent id)")],
    role: Annotated[Role, typer.Option(help="agent, supervisor, marketing or admin")],
    name: Annotated[str, typer.Option(help="display name")] = "",
    team: Annotated[list[str] | None, typer.Option(help="team (repeat for several)")] = None,
    language: Annotated[list[str] | None, typer.Option(help="language the agent answers in (repeat)")] = None,
    password_env: Annotated[str | None, typer.Option(help="read the password from this environment variable")] = None,
    redis_url: RedisOption = None,
) -> None:
    """Create a user (the password comes from --password-env or, on a terminal, a prompt)."""
    if password_env:
        password = os.environ.get(password_env, "")
        if not password:
            raise fail(f"--password-env: environment variable {password_env} is empty or not set")
    elif sys.stdin is None or not sys.stdin.isatty():  # a script, a pipe: nobody to prompt
        raise fail(
            "a password is needed and there is no terminal to ask for it: put it in an environment variable "
            "and give its name with --password-env NAME"
        )
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(client: redis.Redis) -> None:
        try:
            user = await UserStore(client).add(
                username, password, role, name=name, teams=team or (), languages=language or ()
            )
        except (UserError, ValueError) as exc:
            raise fail(str(exc)) from None
        typer.echo(f"created {user.role.value} {user.username}")

    with_redis(redis_url, work)


@users_app.command("list")
def list_users(redis_url: RedisOption = None) -> None:
    """List users with their role and teams."""

    async def work(client: redis.Redis) -> None:
        for u in await UserStore(client).list():
            flag = " (disabled)" if u.disabled else ""
            typer.echo(f"{u.username:<20} {u.role.value:<11} {','.join(u.teams) or '-':<20} {u.name}{flag}")

    with_redis(redis_url, work)


@token_app.command("create")
def create_token(
    username: Annotated[str, typer.Option(help="the user the token acts for")],
    name: Annotated[str, typer.Option(help="what the token is for")],
    role: Annotated[Role | None, typer.Option(help="default: the user's role")] = None,
    redis_url: RedisOption = None,
) -> None:
    """Create an API token; it is printed once and cannot be shown again."""
    from .roles import may_delegate

    async def work(client: redis.Redis) -> None:
        user = await UserStore(client).get(username)
        if user is None:
            raise fail(f"--username: no user {username!r}")
        wanted = role or user.role
        if not may_delegate(user.role, wanted):
            raise fail(f"--role: a {user.role.value} cannot hold a {wanted.value} token")
        token, info = await TokenStore(client).create(name, username, wanted)
        typer.echo(f"token {info.id} for {username} ({wanted.value}); store it now, it is not shown again:")
        typer.echo(token)

    with_redis(redis_url, work)


# --- inbox over the REST API ---------------------------------------------------------------------
def _api(method: str, path: str, **kwargs: Any) -> Any:
    url = os.environ.get("HELPLINE_URL", "").rstrip("/")
    token = os.environ.get("HELPLINE_TOKEN", "")
    if not url or not token:
        raise fail("set HELPLINE_URL (e.g. http://127.0.0.1:8080) and HELPLINE_TOKEN (helpline users token create)")
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    try:
        response = httpx.request(method, f"{url}/api/v1{path}", headers=headers, timeout=15, **kwargs)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {url}: {exc}") from None
    if response.status_code >= 400:
        detail = (
            response.json().get("detail")
            if response.headers.get("content-type", "").startswith("application/json")
            else response.text
        )
        raise fail(f"{response.status_code}: {_said(detail)}")
    return response.json()


def _said(detail: Any) -> str:
    """The API's `detail`, as a line: a validation error names each field with its message
    (`limit: Input should be less than or equal to 100`), not the raw list."""
    if isinstance(detail, list) and all(isinstance(e, dict) and "msg" in e for e in detail):
        return "; ".join(
            ".".join(str(part) for part in e.get("loc", ())[1:] or e.get("loc", ())) + f": {e['msg']}" for e in detail
        )
    return str(detail)


VIEWS = ("mine", "unassigned", "team", "all", "escalated", "failed", "uncertain")
STATUSES = ("open", "pending", "resolved")


@inbox_app.command("list")
def inbox_list(
    view: Annotated[str, typer.Option(help=", ".join(VIEWS))] = "all",
    status: Annotated[str | None, typer.Option(help="open, pending or resolved")] = "open",
    q: Annotated[str | None, typer.Option(help="text search")] = None,
    limit: int = 30,
) -> None:
    """Conversations, newest activity first."""
    if view not in VIEWS:
        raise fail(f"--view: {view!r} is not one of {', '.join(VIEWS)}")
    if status and status not in STATUSES:
        raise fail(f"--status: {status!r} is not one of {', '.join(STATUSES)}")
    params = {k: v for k, v in {"view": view, "status": status, "q": q, "limit": limit}.items() if v}
    for s in _api("GET", "/conversations", params=params)["items"]:
        c = s["conversation"]
        who = s["contact_name"] or s["contact_handle"]
        typer.echo(
            f"{c['id']:<10} {c['platform']:<9} {s['visibility']:<7} {c['priority']:<6} {c['status']:<8} "
            f"{(c['assignee'] or '-'):<10} {who[:20]:<20} {' '.join(s['preview'].split())[:60]}"
        )


@inbox_app.command("show")
def inbox_show(conversation_id: str) -> None:
    """One conversation's history."""
    d = _api("GET", f"/conversations/{conversation_id}")
    c = d["summary"]["conversation"]
    typer.echo(
        f"{c['id']} · {c['platform']}/{c['account']} · {d['summary']['visibility'].upper()} · "
        f"{c['status']} · {c['priority']} · assignee {c['assignee'] or '-'}"
    )
    for it in d["timeline"]:
        at = it["at"][11:16]
        if it["kind"] == "event":
            typer.echo(f"  {at}  · {it['event']}: {it['reason']} ({it['author']})")
        else:
            extra = f"  [{it['delivery']}]" if it["kind"] == "reply" else ""
            typer.echo(f"  {at}  {it['author']} ({it['kind']}): {it['text']}{extra}")


@inbox_app.command("reply")
def inbox_reply(
    conversation_id: str,
    text: str,
    key: Annotated[str | None, typer.Option(help="idempotency key (retrying with it posts once)")] = None,
) -> None:
    """Reply in the conversation's thread (with the thread's visibility)."""
    out = _api(
        "POST",
        f"/conversations/{conversation_id}/reply",
        json={"text": text},
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )
    note = " duplicate" if out["duplicate"] else ""
    typer.echo(f"{out['reply_id']} {out['delivery']} ({out['visibility']}){note}")
