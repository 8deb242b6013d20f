"""Login limits keep guessing expensive without letting a stranger lock an agent out."""

from __future__ import annotations

import time

import httpx

from helpline.console.throttle import LoginLimits

from .helpers import PASSWORD, Desk, login


def from_address(desk: Desk, address: str) -> httpx.AsyncClient:
    c = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=desk.app, client=(address, 40000)), base_url="http://console.test"
    )
    desk.clients.append(c)
    return c


async def test_failures_from_elsewhere_do_not_lock_the_agent_out(desk: Desk) -> None:
    attacker = from_address(desk, "203.0.113.9")
    for _ in range(5):
        assert (await login(attacker, "amy", "wrong password")).status_code == 401
    assert (await login(attacker, "amy", PASSWORD)).status_code == 429  # the guesser is stopped
    assert (await login(from_address(desk, "198.51.100.7"), "amy", PASSWORD)).status_code == 303  # amy is not


async def test_a_username_guessed_from_many_addresses_gets_slow_not_locked(desk: Desk) -> None:
    desk.svc.throttle.limits = LoginLimits(
        per_username=5, per_address=30, per_username_everywhere=6, max_delay_s=1.0, window_s=60
    )
    for i in range(6):  # a botnet: one guess per address
        assert (await login(from_address(desk, f"203.0.113.{i}"), "amy", "wrong password")).status_code == 401
    slow = from_address(desk, "203.0.113.200")
    started = time.monotonic()
    assert (await login(slow, "amy", "wrong password")).status_code == 401
    assert time.monotonic() - started >= 1.0  # every further guess waits
    started = time.monotonic()
    assert (await login(from_address(desk, "198.51.100.7"), "amy", PASSWORD)).status_code == 303  # still gets in
    assert time.monotonic() - started >= 1.0
