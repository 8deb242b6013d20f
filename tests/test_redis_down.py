"""Redis down for 60 seconds while customers write and replies go out: a Telegram platform (the
emulator, its own process) and Helpline's connectors, router and sender as three processes of
their own, against a redis-server killed with SIGKILL mid-flow and started again on the same
port and data (AOF, fsync always) a minute later. Nobody restarts a Helpline process: each
recovers by itself. Afterwards every message is in exactly one conversation's history, once;
every message has its one acknowledgement, posted once and recorded as sent (a reply posted
while Redis was away is recorded when it is back, not left "uncertain"); nothing is left pending.
Two minutes at a load average of 15, most of it the outage itself."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis

from helpline.connectors.emulation import free_port
from helpline.routing import keys
from tests.redis_server import RedisServer
from tests.routing.test_crash import PARTITIONS, histories
from tests.routing.test_crash import replies as queued_replies
from tests.test_end_to_end import EMULATOR, TG_BOT, Proc, base_env, secrets_env, spawn, wait_for

OUTAGE_S = 60.0
CUSTOMERS = 8
ACK = "Thanks, we got your message."
CONFIG = """
[redis]
url = "{redis_url}"
partitions = {partitions}
socket_timeout = 2
connect_timeout = 1

[pipeline]
batch_size = 50
claim_idle_seconds = 5.0
send_batch_seconds = 1.0
send_timeout_seconds = 3.5

[[teams]]
id = "support"
default = true
hours = {{ always_open = true }}

[[accounts]]
platform = "telegram"
name = "exchange_bot"
base_url = "{telegram}"
mode = "polling"
poll_interval = 0.5
secrets = {{ token = "E2E_TELEGRAM_TOKEN" }}
options = {{ long_poll_timeout = 1 }}

[[rules]]
name = "everything to the acknowledgement bot"
set = {{ bot = "ack" }}

[bots.ack]
type = "autoreply"
handoff = false
texts = {{ en = "{ack}" }}
"""


async def pending(r: redis.Redis) -> int:
    """Entries read but not acknowledged, or not read yet, on the inbound and outbound streams."""
    streams = [keys.inbound_stream(p) for p in range(PARTITIONS)] + [
        keys.outbound_stream(p, "telegram", "exchange_bot") for p in range(PARTITIONS)
    ]
    total = 0
    for stream in streams:
        if await r.exists(stream):
            for group in await r.xinfo_groups(stream):
                total += int(group["pending"]) + int(group.get("lag") or 0)
    return total


@pytest.mark.timeout(240)
async def test_redis_down_a_minute_loses_and_doubles_nothing(tmp_path: Path, own_redis: RedisServer) -> None:
    server = own_redis
    creds = secrets_env()
    env = {**base_env(), **creds}
    with ExitStack() as stack:
        port = free_port()
        telegram = f"http://127.0.0.1:{port}"
        procs: list[Proc] = [spawn(stack, tmp_path, "emulator", ["-c", EMULATOR, "telegram", str(port), TG_BOT], env)]
        config = tmp_path / "helpline.toml"
        config.write_text(CONFIG.format(redis_url=server.url, partitions=PARTITIONS, telegram=telegram, ack=ACK))
        for role in ("connectors", "router", "sender"):
            procs.append(
                spawn(stack, tmp_path, role, ["-m", "helpline", "run", "-c", str(config), "--role", role], env)
            )
        r = redis.Redis.from_url(server.url, socket_timeout=5)
        http = httpx.AsyncClient(timeout=10)
        written: list[tuple[int, str]] = []  # (chat, message id)

        async def write(n: int) -> None:
            user = 7000 + n % CUSTOMERS
            who = {"id": user, "handle": f"customer{user}", "name": f"Customer {user}"}
            response = await http.post(
                f"{telegram}/_emulator/customer-messages", json={"user": who, "text": f"question {n}", "kind": "direct"}
            )
            assert response.status_code == 200, response.text
            body = response.json()
            written.append((int(body["chat_id"]), f"{body['chat_id']}:{body['message_id']}"))

        async def sent() -> list[dict[str, object]]:
            response = await http.get(f"{telegram}/_emulator/sent")
            response.raise_for_status()
            return list(response.json()["messages"])

        try:

            async def up() -> bool:
                try:
                    return (await http.get(f"{telegram}/_emulator/stats")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_for("the emulator serves", up, 30, procs, every=0.1)
            await write(0)

            async def first_answered() -> bool:
                return len(await sent()) >= 1

            await wait_for("the first message is answered", first_answered, 60, procs)

            # Messages and replies flow; Redis dies in the middle of them.
            for n in range(1, 17):
                await write(n)
                await asyncio.sleep(0.1)
            server.stop(kill=True)
            down_at = time.monotonic()
            n = 17
            while time.monotonic() - down_at < OUTAGE_S:  # customers keep writing during the outage
                await write(n)
                n += 1
                await asyncio.sleep(3.0)
            server.start()  # the same port, the same AOF
            for _ in range(8):
                await write(n)
                n += 1
                await asyncio.sleep(0.2)

            async def all_answered() -> bool:
                seen = await histories(r)
                _, states = await queued_replies(r)
                return (
                    len(seen) >= len(written)
                    and len(states) >= len(written)
                    and all(s == "sent" for s in states.values())
                    and await pending(r) == 0
                )

            took = await wait_for(
                "every message routed and answered after the outage", all_answered, 90, procs, every=0.5
            )
            await asyncio.sleep(1.0)  # a doubled post would show now

            seen = await histories(r)
            assert set(seen) == {mid for _, mid in written}, "a message was lost (or one appeared from nowhere)"
            assert all(count == 1 for count in seen.values()), {m: c for m, c in seen.items() if c != 1}
            ids, states = await queued_replies(r)
            assert len(ids) == len(set(ids)) == len(written), "an acknowledgement was queued twice or not at all"
            assert set(states.values()) == {"sent"}
            posted = Counter(int(str(m["chat_id"])) for m in await sent())
            expected = Counter(chat for chat, _ in written)
            assert posted == expected, f"posted per chat {dict(posted)} != written per chat {dict(expected)}"
            for proc in procs:
                assert proc.popen.poll() is None, f"{proc.name} exited\n" + proc.tail()
            for proc in procs[1:]:  # one outage, said once by each role (a router that held no
                log = proc.log.read_text()  # partition any more took a quiet round for "back")
                assert log.count("redis unavailable") == 1 and log.count("redis is back") == 1, proc.tail()
            print(f"messages {len(written)}, outage {OUTAGE_S:.0f} s, caught up {took:.1f} s after it")
        finally:
            await http.aclose()
            await r.aclose()
