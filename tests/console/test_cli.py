"""`helpline users` against real Redis, `helpline inbox` against the app on uvicorn."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from helpline.connectors.emulation import serve
from helpline.console.cli import inbox_app, users_app

from .helpers import Desk


async def run(app: object, args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Typer runs its own event loop (asyncio.run), so it runs in a worker thread here."""
    result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)  # type: ignore[arg-type]
    return result.exit_code, result.output


async def test_users_add_list_and_token(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    url = desk.parts.client.connection_pool.connection_kwargs
    redis_url = f"redis://{url['host']}:{url['port']}/0"
    env = {"REDIS_URL": redis_url, "NEW_PW": "a good long password"}
    code, out = await run(
        users_app, ["add", "--username", "zoe", "--role", "agent", "--team", "support", "--password-env", "NEW_PW"], env
    )
    assert code == 0 and "created agent zoe" in out
    assert await desk.svc.users.authenticate("zoe", "a good long password") is not None
    code, out = await run(users_app, ["add", "--username", "zoe", "--role", "agent", "--password-env", "NEW_PW"], env)
    assert code == 2 and "already exists" in out
    code, out = await run(users_app, ["add", "--username", "yan", "--role", "agent", "--password-env", "MISSING"], env)
    assert code == 2 and "MISSING" in out
    code, out = await run(users_app, ["list"], env)
    assert "zoe" in out and "support" in out
    code, out = await run(users_app, ["token", "create", "--username", "zoe", "--name", "bot", "--role", "admin"], env)
    assert code == 2 and "cannot hold" in out
    code, out = await run(users_app, ["token", "create", "--username", "zoe", "--name", "bot"], env)
    token = out.strip().splitlines()[-1]
    assert code == 0 and token.startswith("hlt_")
    info = await desk.svc.tokens.resolve(token)
    assert info is not None and info.username == "zoe"


async def test_users_add_without_a_terminal_or_password_env_says_how_to_give_the_password(desk: Desk) -> None:
    # it printed only "Aborted." (exit status 1)
    url = desk.parts.client.connection_pool.connection_kwargs
    env = {**os.environ, "REDIS_URL": f"redis://{url['host']}:{url['port']}/0"}
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "helpline", "users", "add", "--username", "zed", "--role", "agent"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == (
        "helpline: a password is needed and there is no terminal to ask for it: put it in an environment variable "
        "and give its name with --password-env NAME\n"
    )
    assert await desk.svc.users.get("zed") is None


async def test_inbox_list_show_reply(desk: Desk) -> None:
    cid = await desk.conversation("card payment failed")
    token = (await desk.token("amy"))["Authorization"].removeprefix("Bearer ")
    async with serve(desk.app) as url:
        env = {"HELPLINE_URL": url, "HELPLINE_TOKEN": token}
        code, out = await run(inbox_app, ["list"], env)
        assert code == 0 and cid in out and "card payment failed" in out
        code, out = await run(inbox_app, ["reply", cid, "We are on it", "--key", "k1"], env)
        assert code == 0 and "queued (private)" in out
        code, out = await run(inbox_app, ["reply", cid, "We are on it", "--key", "k1"], env)
        assert code == 0 and "duplicate" in out
        code, out = await run(inbox_app, ["show", cid], env)
        assert code == 0 and "card payment failed" in out and "We are on it  [queued]" in out
        code, out = await run(inbox_app, ["show", "0-999"], {**env, "HELPLINE_TOKEN": "hlt_wrong"})
        assert code == 2 and "401" in out


async def test_inbox_names_a_bad_choice_and_says_the_api_refusal_in_words(desk: Desk) -> None:
    cid = await desk.conversation("Help with my account\n\nsomeone logged in", thread="t9", user="u9")
    token = (await desk.token("amy"))["Authorization"].removeprefix("Bearer ")
    async with serve(desk.app) as url:
        env = {"HELPLINE_URL": url, "HELPLINE_TOKEN": token}
        code, out = await run(inbox_app, ["list"], env)
        row = next(line for line in out.splitlines() if line.startswith(cid))
        assert code == 0 and row.endswith("Help with my account someone logged in")  # one row a conversation
        code, out = await run(inbox_app, ["list", "--view", "bogus"], env)
        assert code == 2 and out.startswith("helpline: --view: 'bogus' is not one of mine, unassigned,"), out
        code, out = await run(inbox_app, ["list", "--status", "closed"], env)
        assert code == 2 and out == "helpline: --status: 'closed' is not one of open, pending, resolved\n"
        code, out = await run(inbox_app, ["list", "--limit", "5000"], env)
        assert code == 2 and out == "helpline: 422: limit: Input should be less than or equal to 100\n", out
        code, out = await run(inbox_app, ["reply", cid, ""], env)
        assert code == 2 and out == "helpline: 422: text: String should have at least 1 character\n", out
