"""The admin's pages in a real browser (headless Chromium): users (create, edit, disable, reset a
password, delete) and API tokens (shown once, listed, revoked), refused to everyone else."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from playwright.async_api import expect

from helpline.console.roles import Role
from helpline.console.users import User
from helpline.routing.models import Presence

from .helpers import PASSWORD, Desk, login
from .stack import TOKEN, running
from .test_browser import SCREENSHOTS, sign_in

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")


@pytest.fixture(autouse=True)
def telegram_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL_TG_TOKEN", TOKEN)


async def _user(desk: Desk, username: str) -> User:
    user = await desk.svc.users.get(username)
    assert user is not None
    return user


async def test_an_admin_manages_users_from_the_users_page(desk: Desk) -> None:
    async with running(desk) as stack:
        root = await sign_in(stack, "root")
        await root.click(".topnav >> text=Users")
        await root.wait_for_url("**/users")
        await expect(root.locator("#users tbody tr")).to_have_count(5)
        await expect(root.locator("#user-amy")).to_contain_text("support")
        await expect(root.locator("#user-amy")).to_contain_text("en, ko")

        new = root.locator("#user-new")
        await new.locator("input[name=username]").fill("kim")
        await new.locator("input[name=name]").fill("Kim Agent")
        await new.locator("input[name=password]").fill("short pw!")  # the browser checks minlength too
        await new.locator("input[name=password]").evaluate("n => n.removeAttribute('minlength')")
        await new.locator("input[name=capacity]").fill("3")
        await new.get_by_label("vip").check()
        await new.get_by_label("ko").check()
        await new.locator("button").click()  # refused by the server: the error, and what was typed kept
        await expect(root.locator("#users-error")).to_contain_text("password")
        new = root.locator("#user-new")
        await expect(new.locator("input[name=username]")).to_have_value("kim")
        await expect(new.locator("input[name=capacity]")).to_have_value("3")
        await expect(new.get_by_label("vip")).to_be_checked()
        await expect(new.get_by_label("ko")).to_be_checked()
        await expect(new.locator("input[name=password]")).to_have_value("")  # never sent back
        await new.locator("input[name=password]").fill("a long enough password")
        await new.locator("button").click()
        await expect(root.locator("#user-kim")).to_contain_text("Kim Agent")
        kim = await _user(desk, "kim")
        assert (kim.role, kim.teams, kim.languages, kim.capacity) == (Role.AGENT, ("vip",), ("ko",), 3)
        assert "kim" in {a.agent.id for a in await desk.parts.assignments.roster()}

        edit = root.locator("#edit-kim")
        await edit.locator("summary").click()
        await edit.locator("select[name=role]").select_option("supervisor")
        await edit.get_by_label("support").check()
        await edit.locator("input[name=capacity]").fill("8")
        await edit.locator("form.user-form button").click()
        await expect(root.locator("#users-saved")).to_contain_text("kim")
        kim = await _user(desk, "kim")
        assert (kim.role, kim.teams, kim.capacity) == (Role.SUPERVISOR, ("support", "vip"), 8)
        await root.goto(stack.url + "/users")  # from the top, for the screenshot
        await root.screenshot(path=str(SCREENSHOTS / "users.png"))

        # an emptied name is refused and the edit form opens again with what was typed
        edit = root.locator("#edit-kim")
        await edit.locator("summary").click()
        await edit.locator("input[name=name]").evaluate("n => n.removeAttribute('required')")
        await edit.locator("input[name=name]").fill("")
        await edit.locator("input[name=capacity]").fill("9")
        await edit.locator("form.user-form button").click()
        await expect(root.locator("#users-error")).to_contain_text("kim: ")
        await expect(root.locator("#edit-kim")).to_have_attribute("open", "")
        await expect(root.locator("#edit-kim input[name=capacity]")).to_have_value("9")
        assert (await _user(desk, "kim")).capacity == 8

        # disabling takes kim off the roster and signs them out; their password is reset
        kim_page = await sign_in(stack, "kim", password="a long enough password")
        await desk.parts.assignments.set_presence("kim", Presence.ONLINE)
        await root.goto(stack.url + "/users")
        edit = root.locator("#edit-kim")
        await edit.locator("summary").click()
        await edit.locator("select[name=status]").select_option("disabled")
        await edit.locator("form.user-form button").click()
        await expect(root.locator("#user-kim .user-status")).to_have_text("disabled")
        assert "kim" not in {a.agent.id for a in await desk.parts.assignments.roster()}
        await kim_page.goto(stack.url + "/")
        assert "/login" in kim_page.url  # signed out
        edit = root.locator("#edit-kim")
        await edit.locator("summary").click()
        await edit.locator("select[name=status]").select_option("active")
        await edit.locator("form.user-form button").click()
        await expect(root.locator("#user-kim .user-status")).to_have_text("active")
        edit = root.locator("#edit-kim")
        await edit.locator("summary").click()
        await edit.locator(".user-password input[name=password]").fill("a brand new password")
        await edit.locator(".user-password button").click()
        await expect(root.locator("#users-saved")).to_contain_text("New password set for kim")
        assert (await login(desk.client(), "kim", "a long enough password")).status_code == 401
        assert (await login(desk.client(), "kim", "a brand new password")).status_code == 303

        # the admin cannot lock themselves out
        edit = root.locator("#edit-root")
        await edit.locator("summary").click()
        await edit.locator("select[name=role]").select_option("agent")
        await edit.locator("form.user-form button").click()
        await expect(root.locator("#users-error")).to_contain_text("your own role")
        assert (await _user(desk, "root")).role is Role.ADMIN
        await expect(root.locator("[aria-label='Delete root']")).to_have_count(0)

        await root.locator("#edit-kim summary").click()
        await root.click("[aria-label='Delete kim']")
        await expect(root.locator("#user-kim")).to_have_count(0)
        assert await desk.svc.users.get("kim") is None

        sue = await sign_in(stack, "sue")
        await expect(sue.locator(".topnav a", has_text="Users")).to_have_count(0)
        response = await sue.goto(stack.url + "/users")
        assert response is not None and response.status == 403
        status, _ = await sue.evaluate(  # the form's endpoint refuses too, CSRF token or not
            """async () => { const r = await fetch('/users/amy/delete', {method: 'POST', headers:
               {'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}}); return [r.status, 0]; }"""
        )
        assert status == 403 and await desk.svc.users.get("amy") is not None


async def test_an_admin_creates_an_api_token_shown_once_and_revokes_it(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(desk) as stack:
        logging.getLogger("uvicorn.access").setLevel(logging.DEBUG)  # every request in the log
        root = await sign_in(stack, "root")
        await root.click(".topnav >> text=API tokens")
        await root.wait_for_url("**/tokens")
        await expect(root.locator("#tokens-empty")).to_be_visible()
        form = root.locator("#token-new")
        await form.locator("input[name=name]").fill("nightly export")
        await form.locator("select[name=username]").select_option("amy")
        await form.locator("select[name=role]").select_option("supervisor")  # more than amy's own
        await form.locator("button").click()
        await expect(root.locator("#tokens-error")).to_contain_text("agent cannot hold a supervisor token")
        await expect(root.locator("#token-new input[name=name]")).to_have_value("nightly export")
        await root.locator("#token-new select[name=role]").select_option("")
        await root.locator("#token-new button").click()
        token = await root.locator("#new-token").input_value()
        assert token.startswith("hlt_")
        row = root.locator("#tokens tbody tr")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text("nightly export")
        await expect(row).to_contain_text("amy")
        await expect(row.locator(".token-since time")).not_to_be_empty()
        await expect(row.locator(".token-used")).to_have_text("never")
        assert root.url.endswith("/tokens") and token not in root.url

        bearer = {"Authorization": f"Bearer {token}"}
        me = (await desk.client().get("/api/v1/me", headers=bearer)).json()
        assert (me["username"], me["role"]) == ("amy", "agent")
        await root.goto(stack.url + "/tokens")  # shown once: never again
        assert token not in await root.content()
        await expect(root.locator("#new-token")).to_have_count(0)
        await expect(root.locator("#tokens tbody tr .token-used time")).not_to_be_empty()  # used just now

        await root.click("[aria-label='Revoke nightly export (amy)']")
        await expect(root.locator("#tokens-empty")).to_be_visible()
        assert (await desk.client().get("/api/v1/me", headers=bearer)).status_code == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/tokens" in logged  # the requests were logged, the token never
    assert token not in logged and token[4:] not in logged
    assert PASSWORD not in logged


async def test_every_user_manages_their_own_api_tokens_and_only_those(desk: Desk) -> None:
    _, others = await desk.svc.tokens.create("sue's export", "sue", Role.SUPERVISOR)
    async with running(desk) as stack:
        amy = await sign_in(stack, "amy")
        await amy.click(".topnav >> text=API tokens")
        await amy.wait_for_url("**/tokens")
        await expect(amy.locator("#tokens-empty")).to_be_visible()  # sue's token is not hers to see
        form = amy.locator("#token-new")
        await expect(form.locator("select[name=username]")).to_have_count(0)  # her own only
        offered = await form.locator("select[name=role] option").evaluate_all("os => os.map(o => o.value)")
        assert offered == ["", "agent"]
        await form.locator("input[name=name]").fill("terminal inbox")
        await form.locator("button").click()
        token = await amy.locator("#new-token").input_value()
        assert token.startswith("hlt_") and token not in amy.url
        row = amy.locator("#tokens tbody tr")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text("terminal inbox")
        me = (await desk.client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
        assert (me["username"], me["role"]) == ("amy", "agent")

        status = await amy.evaluate(  # a forged form for someone else's token or a higher role is refused
            """async ([id]) => { const csrf = document.querySelector('meta[name=csrf-token]').content;
               const body = f => new URLSearchParams({csrf_token: csrf, ...f});
               const a = await fetch(`/tokens/${id}/revoke`, {method: 'POST', body: body({})});
               const b = await fetch('/tokens', {method: 'POST', body: body({name: 'x', username: 'sue'})});
               const c = await fetch('/tokens', {method: 'POST', body: body({name: 'x', role: 'supervisor'})});
               return [a.status, b.status, c.status]; }""",
            [others.id],
        )
        assert status == [404, 403, 403]
        assert {t.id for t in await desk.svc.tokens.list()} >= {others.id}

        await amy.goto(stack.url + "/tokens")
        await amy.click("[aria-label='Revoke terminal inbox (amy)']")
        await expect(amy.locator("#tokens-empty")).to_be_visible()
        assert [t.username for t in await desk.svc.tokens.list()] == ["sue"]
        assert token not in await amy.content()
