"""End to end, by configuration alone: Helpline against Telegram, X and Mastodon servers on loopback.

Nothing is wired in Python. Each platform emulator runs as its own server process; the test
writes a `helpline.toml`, puts the secrets in the environment (the file only names the variables)
and starts `python -m helpline run -c helpline.toml` (every role) against a redis-server the test
owns. Customers then write through the emulators' control APIs, and the test reads back what the
brand account posted on each platform: the right thread, the right visibility, the customer's
language, exactly once, within a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from helpline.bots.catalog import default_catalog
from helpline.bots.kb import load_kb
from helpline.connectors.emulation import free_port
from helpline.portal.site import page_path
from helpline.routing import keys
from tests.redis_server import RedisServer

REPO = Path(__file__).resolve().parent.parent
PARTITIONS = 4
DEADLINE_S = 60.0
CATALOG = default_catalog()

TG_BOT = "helpline_e2e_bot"
X_BRAND_ID, X_HANDLE = "1000", "HelplineE2E"
MASTODON_DOMAIN = "mastodon.example"
ACCOUNTS = (("telegram", "exchange_bot"), ("x", X_HANDLE), ("mastodon", "support"))

# Every emulator is an independent server in its own process; its credentials come from the environment.
EMULATOR = """
import os, sys
import uvicorn

platform, port = sys.argv[1], int(sys.argv[2])
if platform == "telegram":
    from helpline.connectors.telegram.emulator import create_app
    app = create_app(token=os.environ["E2E_TELEGRAM_TOKEN"], bot_username=sys.argv[3])
elif platform == "x":
    from helpline.connectors.x.emulator import create_app
    from helpline.connectors.x.emulator_state import Credentials
    creds = Credentials(**{n: os.environ["E2E_X_" + n.upper()] for n in
                           ("consumer_key", "consumer_secret", "access_token", "access_token_secret")})
    app = create_app(user_id=sys.argv[3], handle=sys.argv[4], credentials=creds)
else:
    from helpline.connectors.mastodon.emulator import create_app
    from helpline.connectors.mastodon.emulator_state import EmulatorConfig
    app = create_app(username="support", domain=sys.argv[3],
                     config=EmulatorConfig(token=os.environ["E2E_MASTODON_TOKEN"]))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""

CONFIG = """
[redis]
url = "{redis_url}"
partitions = {partitions}

[pipeline]
batch_size = 50
claim_idle_seconds = 5.0
send_batch_seconds = 1.0
send_timeout_seconds = 3.5

[console]
host = "127.0.0.1"
port = {console_port}
public_url = "http://127.0.0.1:{console_port}"

[languages]
supported = ["en", "ko", "zh", "ja"]
default = "en"

[[teams]]
id = "support"
name = "Customer support"
default = true
hours = {{ always_open = true }}

[[teams]]
id = "security"
name = "Security on call"
hours = {{ always_open = true }}

[[accounts]]
platform = "telegram"
name = "exchange_bot"
base_url = "{telegram}"
mode = "polling"
poll_interval = 0.5
secrets = {{ token = "E2E_TELEGRAM_TOKEN" }}
options = {{ long_poll_timeout = 1 }}

[[accounts]]
platform = "x"
name = "{x_handle}"
base_url = "{x}"
poll_interval = 1.0
options = {{ user_id = "{x_brand_id}", handle = "{x_handle}" }}
[accounts.secrets]
consumer_key = "E2E_X_CONSUMER_KEY"
consumer_secret = "E2E_X_CONSUMER_SECRET"
access_token = "E2E_X_ACCESS_TOKEN"
access_token_secret = "E2E_X_ACCESS_TOKEN_SECRET"

[[accounts]]
platform = "mastodon"
name = "support"
base_url = "{mastodon}"
poll_interval = 1.0
secrets = {{ access_token = "E2E_MASTODON_TOKEN" }}

[[rules]]
name = "possible account takeover goes to security"
match = {{ keywords = ["hacked", "stolen", "해킹", "被盗", "乗っ取"] }}
set = {{ priority = "urgent", team = "security", labels = ["security"], stop = true }}

[[rules]]
name = "everything else starts with the help-center bot"
set = {{ bot = "helpcenter" }}

[bots.helpcenter]
type = "helpcenter"
kb = "{kb}"
"""

# Questions from kb/eval/questions.jsonl that the help center answers with the expected article.
TG_PRIVATE_Q = ("en", "how do I increase my daily withdrawal limit", "withdrawal-limits")  # en-022
TG_GROUP_Q = ("zh", "提 usdt 到 trust wallet 应该选哪个网络", "withdrawal-networks")  # zh-016
X_MENTION_Q = ("ja", "1日の出金上限を上げるには", "withdrawal-limits")  # ja-022
X_DM_Q = ("ja", "パスワードを忘れてしまいました", "password-reset")  # ja-042
MASTODON_PUBLIC_Q = ("ko", "일일 출금 한도 늘리는 방법", "withdrawal-limits")  # ko-022
MASTODON_DIRECT_Q = ("zh", "XLM 充值忘记写 memo 了", "deposit-missing-memo")  # zh-012
HUMAN_TEXT = "I want a human, please"
EMAIL = "jordan.lee@example.com"
EMAIL_TEXT = f"my deposit still isn't showing, my email is {EMAIL}"
HACKED_TEXT = "my account was hacked and someone is withdrawing my coins"

_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def in_script_of(text: str, language: str) -> bool:
    """The text is written in the language's script (Hangul, kana, Han without kana, or none)."""
    if language == "ko":
        return bool(_HANGUL.search(text))
    if language == "ja":
        return bool(_KANA.search(text))
    if language == "zh":
        return bool(_HAN.search(text)) and not _KANA.search(text) and not _HANGUL.search(text)
    return not (_HANGUL.search(text) or _KANA.search(text) or _HAN.search(text))


def article_url(key: str, language: str) -> str:
    """The article's page on the help center the console serves (the bot links there when the
    help center is on, as it is by default); the console's address varies per run, the path not."""
    article = _KB.get(key, language)
    assert article is not None, f"kb has no {language} article {key!r}"
    return page_path(article.language, article.key)


_KB = load_kb(REPO / "kb")


# --- processes ----------------------------------------------------------------------------------------------
@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 3000) -> str:
        return f"--- {self.log} ---\n" + self.log.read_text(errors="replace")[-chars:]


def spawn(stack: ExitStack, tmp: Path, name: str, args: list[str], env: dict[str, str]) -> Proc:
    log = tmp / f"{name}.log"
    out = stack.enter_context(log.open("wb"))
    popen = subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    proc = Proc(name, popen, log)
    stack.callback(stop, proc)
    return proc


def stop(proc: Proc) -> None:
    if proc.popen.poll() is not None:
        return
    proc.popen.send_signal(signal.SIGTERM)
    try:
        proc.popen.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.popen.kill()
        proc.popen.wait(timeout=5)


async def wait_for(
    what: str, check: Callable[[], Awaitable[bool]], seconds: float, procs: list[Proc], every: float = 0.25
) -> float:
    """Poll `check` until it holds; fail (with the logs) at the deadline or if a process died.
    Returns the seconds it took."""
    start = time.monotonic()
    while True:
        for proc in procs:
            if proc.popen.poll() is not None:
                pytest.fail(f"{proc.name} exited with {proc.popen.returncode} while waiting for {what}\n" + proc.tail())
        if await check():
            return time.monotonic() - start
        if time.monotonic() - start > seconds:
            pytest.fail(f"not within {seconds:.0f} s: {what}\n" + "\n".join(p.tail() for p in procs))
        await asyncio.sleep(every)


@dataclass
class Platforms:
    telegram: str
    x: str
    mastodon: str


def start_emulators(stack: ExitStack, tmp: Path, env: dict[str, str]) -> tuple[Platforms, list[Proc]]:
    ports = {name: free_port() for name in ("telegram", "x", "mastodon")}
    extra = {"telegram": [TG_BOT], "x": [X_BRAND_ID, X_HANDLE], "mastodon": [MASTODON_DOMAIN]}
    procs = [
        spawn(stack, tmp, f"emulator-{name}", ["-c", EMULATOR, name, str(port), *extra[name]], env)
        for name, port in ports.items()
    ]
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    return Platforms(**urls), procs


def secrets_env() -> dict[str, str]:
    tg = f"{secrets.randbelow(9 * 10**8) + 10**8}:{secrets.token_urlsafe(24)}"
    names = ("X_CONSUMER_KEY", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET", "MASTODON_TOKEN")
    return {"E2E_TELEGRAM_TOKEN": tg, **{f"E2E_{n}": secrets.token_urlsafe(18) for n in names}}


def base_env() -> dict[str, str]:
    """The parent environment without any HELPLINE_* override that could change the configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_") and k != "REDIS_URL"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --- what the platforms saw ---------------------------------------------------------------------------------
def chain(messages: list[dict[str, Any]], root: Any) -> list[dict[str, Any]]:
    """Messages replying to `root`, then the parts replying to those (a split reply), in order."""
    found: list[dict[str, Any]] = []
    frontier = {str(root)}
    while frontier:
        step = [m for m in messages if str(m.get("in_reply_to")) in frontier and m not in found]
        found += step
        frontier = {str(m["id"]) for m in step}
    return found


def direct_replies(messages: list[dict[str, Any]], root: Any) -> list[dict[str, Any]]:
    return [m for m in messages if str(m.get("in_reply_to")) == str(root)]


def joined(parts: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in parts)


_X_PART = re.compile(r"^(\d+)/(\d+) ")  # X threads: "1/3 ..."
_MASTODON_PART = re.compile(r" \((\d+)/(\d+)\)$")  # Mastodon chains: "... (1/3)"


def complete(parts: list[dict[str, Any]], numbering: re.Pattern[str]) -> bool:
    """A reply split into numbered parts has all of them; an unsplit reply is one message."""
    if not parts:
        return False
    numbers = [numbering.search(m["text"]) for m in parts]
    if len(parts) == 1 and numbers[0] is None:
        return True
    return all(n is not None and int(n.group(2)) == len(parts) for n in numbers) and sorted(
        int(n.group(1)) for n in numbers if n
    ) == list(range(1, len(parts) + 1))


class Desk:
    """The customer side of the three platforms."""

    def __init__(self, http: httpx.AsyncClient, platforms: Platforms) -> None:
        self.http = http
        self.p = platforms

    async def write(self, base: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(f"{base}/_emulator/customer-messages", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def telegram(self, user: int, text: str, *, group: int | None = None) -> dict[str, Any]:
        who = {"id": user, "handle": f"customer{user}", "name": f"Customer {user}"}
        if group is None:
            return await self.write(self.p.telegram, {"user": who, "text": text, "kind": "direct"})
        return await self.write(
            self.p.telegram, {"user": who, "text": text, "kind": "group", "chat_id": group, "mention": True}
        )

    async def x(self, user: str, text: str, kind: str) -> dict[str, Any]:
        who = {"id": user, "handle": f"cust{user}", "name": f"Customer {user}"}
        return await self.write(self.p.x, {"user": who, "text": text, "kind": kind})

    async def mastodon(
        self, user: str, handle: str, text: str, kind: str, language: str | None = None
    ) -> dict[str, Any]:
        """`language` is the tag the customer's client puts on the status (None: untagged)."""
        who = {"id": user, "handle": handle, "name": handle.split("@")[0].title()}
        return await self.write(self.p.mastodon, {"user": who, "text": text, "kind": kind, "language": language})

    async def sent(self, base: str) -> list[dict[str, Any]]:
        response = await self.http.get(f"{base}/_emulator/sent")
        response.raise_for_status()
        return list(response.json()["messages"])


async def settled(r: redis.Redis) -> bool:
    """Every work stream is fully read and acknowledged, and no reply waits out a rate limit."""
    streams = [keys.inbound_stream(p) for p in range(PARTITIONS)] + [
        keys.outbound_stream(p, platform, account) for p in range(PARTITIONS) for platform, account in ACCOUNTS
    ]
    for stream in streams:
        if not await r.exists(stream):
            continue
        for group in await r.xinfo_groups(stream):
            if group["pending"] or group.get("lag"):
                return False
    for p in range(PARTITIONS):
        for platform, account in ACCOUNTS:
            if await r.zcard(keys.outbound_delayed(p, platform, account)):
                return False
    return True


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as s:
        yield s


async def test_configured_helpline_answers_on_three_platforms(
    own_redis: RedisServer, tmp_path: Path, stack: ExitStack
) -> None:
    creds = secrets_env()
    env = {**base_env(), **creds}
    platforms, procs = start_emulators(stack, tmp_path, env)
    config = tmp_path / "helpline.toml"
    config.write_text(
        CONFIG.format(
            redis_url=own_redis.url,
            partitions=PARTITIONS,
            console_port=free_port(),
            telegram=platforms.telegram,
            x=platforms.x,
            mastodon=platforms.mastodon,
            x_handle=X_HANDLE,
            x_brand_id=X_BRAND_ID,
            kb=REPO / "kb",
        )
    )
    assert not any(value in config.read_text() for value in creds.values()), "a secret leaked into the file"

    r = redis.Redis.from_url(own_redis.url)
    http = httpx.AsyncClient(timeout=10)
    try:
        desk = Desk(http, platforms)

        async def emulators_up() -> bool:
            try:
                for base in (platforms.telegram, platforms.x, platforms.mastodon):
                    (await http.get(f"{base}/_emulator/stats")).raise_for_status()
            except httpx.HTTPError:
                return False
            return True

        await wait_for("the three emulators serve", emulators_up, 20, procs, every=0.1)
        helpline = spawn(stack, tmp_path, "helpline", ["-m", "helpline", "run", "-c", str(config)], env)
        procs.append(helpline)

        async def polling() -> bool:
            """Every connector has polled its platform once (X and Mastodon store a first cursor)."""
            stats = (await http.get(f"{platforms.telegram}/_emulator/stats")).json()
            cursors = [await r.get(keys.cursor(p, a, "main")) for p, a in (("x", X_HANDLE), ("mastodon", "support"))]
            return stats["get_updates_calls"] > 0 and all(cursors)

        await wait_for("helpline polls the three platforms", polling, 30, procs)

        # --- customers write ------------------------------------------------------------------------------
        tg_private = await desk.telegram(7001, TG_PRIVATE_Q[1])
        tg_group = await desk.telegram(7002, TG_GROUP_Q[1], group=-4_200_000_001)
        tg_human = await desk.telegram(7003, HUMAN_TEXT)
        x_mention = await desk.x("8001", X_MENTION_Q[1], "mention")
        await desk.x("8001", X_DM_Q[1], "direct")  # the same person, privately
        x_email = await desk.x("8002", EMAIL_TEXT, "mention")
        md_public = await desk.mastodon(
            "9001", "minji@social.example", MASTODON_PUBLIC_Q[1], "mention", language=MASTODON_PUBLIC_Q[0]
        )
        md_direct = await desk.mastodon("9002", "wei@fedi.example", MASTODON_DIRECT_Q[1], "direct")
        md_hacked = await desk.mastodon("9003", "sam@hachyderm.example", HACKED_TEXT, "direct")

        # --- every answer lands ---------------------------------------------------------------------------
        async def snapshot() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
            return (
                await desk.sent(platforms.telegram),
                await desk.sent(platforms.x),
                await desk.sent(platforms.mastodon),
            )

        async def all_answered() -> bool:
            tg, x, md = await snapshot()
            x_tweets = [m for m in x if m["kind"] == "tweet"]
            x_dms = [m for m in x if m["kind"] == "direct"]
            return (
                any(m["chat_id"] == tg_private["chat_id"] for m in tg)
                and any(m["chat_id"] == tg_group["chat_id"] for m in tg)
                and any(m["chat_id"] == tg_human["chat_id"] for m in tg)
                and complete(chain(x_tweets, x_mention["message_id"]), _X_PART)
                and complete(chain(x_tweets, x_email["message_id"]), _X_PART)
                and any(m["recipient_id"] == "8001" for m in x_dms)
                and complete(chain(md, md_public["message_id"]), _MASTODON_PART)
                and complete(chain(md, md_direct["message_id"]), _MASTODON_PART)
            )

        answered_in = await wait_for("an answer in every thread", all_answered, DEADLINE_S, procs)

        # Telegram: the private question is answered in the private chat, the group mention in the
        # group as a reply to the customer's message.
        tg, x, md = await snapshot()
        lang, _, key = TG_PRIVATE_Q
        private = [m for m in tg if m["chat_id"] == tg_private["chat_id"]]
        assert len(private) == 1, private
        answer = private[0]
        assert answer["chat_type"] == "private" and answer["visibility"] == "private"
        assert article_url(key, lang) in answer["text"] and in_script_of(answer["text"], lang), answer
        assert CATALOG.text(lang, "ask_feedback") in answer["text"]

        lang, _, key = TG_GROUP_Q
        group = [m for m in tg if m["chat_id"] == tg_group["chat_id"]]
        assert len(group) == 1, group
        assert group[0]["chat_type"] == "group" and group[0]["visibility"] == "public"
        assert group[0]["in_reply_to"] == tg_group["message_id"], "the group answer must reply to the mention"
        assert article_url(key, lang) in group[0]["text"] and in_script_of(group[0]["text"], lang), group
        assert not any(m["chat_id"] == 7002 for m in tg), "the group question was answered in private"

        human = [m for m in tg if m["chat_id"] == tg_human["chat_id"]]
        assert [m["text"] for m in human] == [CATALOG.text("en", "handoff_human")]
        assert human[0]["visibility"] == "private"

        # X: the mention gets a reply tweet (thread), the DM from the same person a DM, never crossed.
        tweets = [m for m in x if m["kind"] == "tweet"]
        dms = [m for m in x if m["kind"] == "direct"]
        assert all(m["visibility"] == "public" for m in tweets) and all(m["visibility"] == "private" for m in dms)
        lang, _, key = X_MENTION_Q
        first = direct_replies(tweets, x_mention["message_id"])
        assert len(first) == 1, f"the mention got {len(first)} first replies: {first}"
        thread = chain(tweets, x_mention["message_id"])
        assert all(m["conversation_id"] == x_mention["thread"].removeprefix("tweet:") for m in thread), thread
        text = joined(thread)
        assert in_script_of(text, lang) and article_url(key, lang) in text, thread
        assert not any(article_url(key, lang) in m["text"] for m in dms), "the mention's answer went to a DM"

        lang, _, key = X_DM_Q
        to_8001 = [m for m in dms if m["recipient_id"] == "8001"]
        assert len(to_8001) == 1, to_8001
        assert article_url(key, lang) in to_8001[0]["text"] and in_script_of(to_8001[0]["text"], lang), to_8001
        assert not any(article_url(key, lang) in m["text"] for m in tweets), "the DM's answer was tweeted"

        # X: the e-mail in public gets the safe invitation to write privately, nothing else anywhere.
        email_thread = chain(tweets, x_email["message_id"])
        # (replies on X start with the customer's @handle and end with the reply's reference)
        expected = re.escape("@cust8002 " + CATALOG.text("en", "public_move_private")) + r" \(ref [A-Z2-7]{6}\)"
        assert len(email_thread) == 1 and re.fullmatch(expected, email_thread[0]["text"]), email_thread
        assert not any(m["recipient_id"] == "8002" for m in dms)

        # Mastodon: the public mention is answered in public, the direct message directly, to @acct.
        lang, _, key = MASTODON_PUBLIC_Q
        first = direct_replies(md, md_public["message_id"])
        assert len(first) == 1, first
        thread = chain(md, md_public["message_id"])
        assert all(m["visibility"] == "public" for m in thread), thread
        assert thread[0]["text"].startswith("@minji@social.example "), thread
        text = joined(thread)
        assert in_script_of(text, lang) and article_url(key, lang) in text, thread

        lang, _, key = MASTODON_DIRECT_Q
        first = direct_replies(md, md_direct["message_id"])
        assert len(first) == 1, first
        thread = chain(md, md_direct["message_id"])
        assert all(m["visibility"] == "direct" for m in thread), thread
        assert all(m["text"].startswith("@wei@fedi.example ") for m in thread), thread
        text = joined(thread)
        assert in_script_of(text, lang) and article_url(key, lang) in text, thread

        # --- "Did this solve it?" -> yes -> survey -> 5 -> thanks -----------------------------------------
        chat = tg_private["chat_id"]

        async def private_texts() -> list[str]:
            return [m["text"] for m in await desk.sent(platforms.telegram) if m["chat_id"] == chat]

        await desk.telegram(7001, "yes")
        survey_ask = CATALOG.text("en", "survey_ask")

        async def surveyed() -> bool:
            return survey_ask in await private_texts()

        await wait_for("the survey question after 'yes'", surveyed, DEADLINE_S, procs)
        assert CATALOG.text("en", "resolved") in await private_texts()
        await desk.telegram(7001, "5")
        thanks = CATALOG.text("en", "survey_thanks")

        async def thanked() -> bool:
            return thanks in await private_texts()

        await wait_for("the thanks for the rating", thanked, DEADLINE_S, procs)

        # --- the security rule: to the security team, urgent, and no bot answer ----------------------------
        async def security_conversation() -> dict[bytes, bytes] | None:
            for p in range(PARTITIONS):
                for cid in await r.zrange(keys.conversations_by_update(p), 0, -1):
                    fields = await r.hgetall(keys.conversation(cid.decode()))
                    if fields.get(b"thread_key") == f"direct:{9003}".encode():
                        return dict(fields)
            return None

        conv = await security_conversation()
        assert conv is not None, "the hacked-account message made no conversation"
        assert conv.get(b"team") == b"security" and conv.get(b"priority") == b"urgent", conv

        # --- exactly once, nothing leaked, nothing dead -------------------------------------------------------
        await wait_for("every stream read and acknowledged", lambda: settled(r), DEADLINE_S, procs)
        tg, x, md = await snapshot()
        (tmp_path / "sent.json").write_text(
            json.dumps(  # for debugging: what each platform received
                {"answered_in_s": round(answered_in, 2), "telegram": tg, "x": x, "mastodon": md},
                ensure_ascii=False,
                indent=1,
            )
        )
        private_now = [m["text"] for m in tg if m["chat_id"] == chat]
        assert len(private_now) == len(set(private_now)) == 4, private_now  # answer, resolved, survey, thanks
        assert [m for m in tg if m["chat_id"] == tg_group["chat_id"]] == group, "a second group reply"
        assert len([m for m in tg if m["chat_id"] == tg_human["chat_id"]]) == 1
        tweets = [m for m in x if m["kind"] == "tweet"]
        dms = [m for m in x if m["kind"] == "direct"]
        assert len(direct_replies(tweets, x_mention["message_id"])) == 1
        assert len(direct_replies(tweets, x_email["message_id"])) == 1
        assert len(dms) == 1 and dms[0]["recipient_id"] == "8001", dms
        assert all(m["in_reply_to"] for m in tweets), "a tweet that answers no one"
        assert len(direct_replies(md, md_public["message_id"])) == 1
        assert len(direct_replies(md, md_direct["message_id"])) == 1
        assert not direct_replies(md, md_hacked["message_id"]), "a bot answered the security case"
        assert not any("@sam@hachyderm.example" in m["text"] for m in md)
        everything = [m["text"] for m in (*tg, *x, *md)]
        assert not any(EMAIL in t for t in everything), "the customer's e-mail was echoed"
        for p in range(PARTITIONS):
            assert await r.xlen(keys.dead_letters(p)) == 0, await r.xrange(keys.dead_letters(p))
    finally:
        await http.aclose()
        await r.aclose()
