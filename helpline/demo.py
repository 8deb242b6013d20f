"""`helpline demo`: the whole system on one machine, with its own Redis and the platform emulators.

Everything real runs: a redis-server with AOF in the data directory, the Telegram, X and Mastodon
emulators on loopback (speaking the platforms' wire formats to the real client libraries), the
connectors polling them, the router, the help-center bot, the sender and the console. Simulated
customers write to the emulators. Secrets are generated on first start into the data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as redis

from helpline.connectors.email.mailservers import DOVECOT, Dovecot, Relay
from helpline.connectors.emulation import free_port, port_taken, serve
from helpline.connectors.mastodon.emulator import create_app as mastodon_emulator
from helpline.connectors.mastodon.emulator_state import EmulatorConfig
from helpline.connectors.telegram.emulator import create_app as telegram_emulator
from helpline.connectors.webchat.demo_site import demo_site
from helpline.connectors.x.emulator import create_app as x_emulator
from helpline.connectors.x.emulator_state import Credentials
from helpline.routing.assignment import AssignmentStore

from .cli import redact
from .config import Settings
from .demo_canned import seed_canned
from .embedded_redis import EmbeddedRedis
from .mail_simulation import PEOPLE, MailSimulation
from .runtime import run_roles, sync_roster
from .simulation import Simulation

log = logging.getLogger(__name__)

#: The demo knowledge base, shipped in the package (`helpline/kb` links to the top-level `kb/` in a
#: checkout), so `helpline demo` runs from an installed wheel as from the source tree.
DEMO_KB = Path(__file__).resolve().parent / "kb"
SECRET_NAMES = (
    "TELEGRAM_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "X_CONSUMER_KEY",
    "X_CONSUMER_SECRET",
    "X_ACCESS_TOKEN",
    "X_ACCESS_TOKEN_SECRET",
    "MASTODON_TOKEN",
    "ADMIN_PASSWORD",
    "AGENT_PASSWORD",
    "SUPERVISOR_PASSWORD",
    "MARKETING_PASSWORD",
    "MAIL_PASSWORD",
    "SMTP_PASSWORD",
    "MAIL_LINK_SECRET",
    "CUSTOMER_MAIL_PASSWORD",
    "REDIS_PASSWORD",
    "WEBCHAT_SECRET",
)
SUPPORT_ADDRESS = "support@helpline-exchange.example"
ENV_PREFIX = "HELPLINE_DEMO_"


class DemoFailed(Exception):
    """The demo cannot run (e.g. its console port is taken); one line for the user."""


def demo_secrets(data_dir: Path) -> dict[str, str]:
    """Read the demo's secrets, generating them on first start (file mode 0600, git-ignored)."""
    path = data_dir / "secrets.env"
    found: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            if name and value:
                found[name] = value
    for name in SECRET_NAMES:
        key = ENV_PREFIX + name
        if key not in found:
            found[key] = (
                f"{secrets.randbelow(9 * 10**8) + 10**8}:{secrets.token_urlsafe(24)}"
                if name == "TELEGRAM_TOKEN"
                else secrets.token_urlsafe(18)
            )
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others, even briefly
    with os.fdopen(fd, "w") as f:
        f.write("".join(f"{k}={v}\n" for k, v in sorted(found.items())))
    path.chmod(0o600)
    return found


@dataclass(frozen=True)
class Mail:
    """The demo's real mail servers: Dovecot holding the support and the customers' mailboxes,
    and an SMTP relay delivering Helpline's answers into the customers' ones."""

    dovecot: Dovecot
    relay: Relay


@dataclass(frozen=True)
class Emulators:
    telegram: str
    x: str
    mastodon: str
    mail: Mail | None = None

    def as_dict(self) -> dict[str, str]:
        return {"telegram": self.telegram, "x": self.x, "mastodon": self.mastodon}


@asynccontextmanager
async def run_emulators(env: dict[str, str]) -> AsyncIterator[Emulators]:
    creds = Credentials(
        consumer_key=env[ENV_PREFIX + "X_CONSUMER_KEY"],
        consumer_secret=env[ENV_PREFIX + "X_CONSUMER_SECRET"],
        access_token=env[ENV_PREFIX + "X_ACCESS_TOKEN"],
        access_token_secret=env[ENV_PREFIX + "X_ACCESS_TOKEN_SECRET"],
    )
    async with AsyncExitStack() as stack:
        telegram = await stack.enter_async_context(
            serve(telegram_emulator(token=env[ENV_PREFIX + "TELEGRAM_TOKEN"], bot_username="helpline_exchange_bot"))
        )
        x = await stack.enter_async_context(
            serve(x_emulator(user_id="1000", handle="HelplineExchange", credentials=creds))
        )
        mastodon = await stack.enter_async_context(
            serve(
                mastodon_emulator(
                    username="support",
                    domain="mastodon.example",
                    config=EmulatorConfig(token=env[ENV_PREFIX + "MASTODON_TOKEN"]),
                )
            )
        )
        yield Emulators(telegram, x, mastodon, _mail_servers(stack, env))


def _mail_servers(stack: AsyncExitStack, env: dict[str, str]) -> Mail | None:
    """Dovecot and the relay, when Dovecot is installed (`make` installs dovecot-imapd)."""
    if not Path(DOVECOT).exists():
        log.warning("dovecot is not installed: the demo runs without its mailbox")
        return None
    customer_password = env[ENV_PREFIX + "CUSTOMER_MAIL_PASSWORD"]
    users = {"support": env[ENV_PREFIX + "MAIL_PASSWORD"], **{user: customer_password for _, user, _ in PEOPLE}}
    dovecot = Dovecot(users).start()
    stack.callback(dovecot.stop)
    relay = Relay(
        "support",
        env[ENV_PREFIX + "SMTP_PASSWORD"],
        dovecot,
        {f"{user}@customers.example": user for _, user, _ in PEOPLE},
    ).start()
    stack.callback(relay.stop)
    return Mail(dovecot, relay)


#: Automatic mails to one simulated customer per hour (the loop breaker stays on).
DEMO_AUTO_REPLIES_PER_HOUR = 300


def _mail_account(mail: Mail | None, data_dir: Path) -> list[dict[str, Any]]:
    if mail is None:
        return []
    return [
        {
            "platform": "email",
            "name": "support-mail",
            "poll_interval": 2.0,
            "secrets": {
                "username": ENV_PREFIX + "MAIL_USER",
                "password": ENV_PREFIX + "MAIL_PASSWORD",
                "smtp_username": ENV_PREFIX + "MAIL_USER",
                "smtp_password": ENV_PREFIX + "SMTP_PASSWORD",
                "link_secret": ENV_PREFIX + "MAIL_LINK_SECRET",
            },
            "options": {
                "address": SUPPORT_ADDRESS,
                "display_name": "Helpline Exchange Support",
                "imap_host": "127.0.0.1",
                "imap_port": mail.dovecot.port,
                "imap_security": "none",
                "smtp_host": "127.0.0.1",
                "smtp_port": mail.relay.port,
                "smtp_security": "none",
                "first_poll": "all",
                "attachments_dir": str(data_dir / "attachments"),
                # the eight simulated customers write far more often than people do: at the default
                # cap of 3 the bot's answers to them failed within minutes (tests/helpline/test_cli.py)
                "auto_replies_per_hour": DEMO_AUTO_REPLIES_PER_HOUR,
            },
        }
    ]


def _webchat_account(site_origin: str | None) -> list[dict[str, Any]]:
    """The chat widget on the demo's stand-in company site (its own origin, allowed)."""
    if site_origin is None:
        return []
    return [
        {
            "platform": "webchat",
            "name": "site",
            "mode": "webhook",
            "secrets": {"identity_secret": ENV_PREFIX + "WEBCHAT_SECRET"},
            "options": {"allowed_origins": [site_origin], "identity": "optional"},
        }
    ]


def demo_settings(
    redis_url: str,
    emulators: Emulators,
    console_port: int,
    data_dir: Path = Path("var/demo"),
    site_origin: str | None = None,
) -> Settings:
    weekdays = {day: ("09:00-18:00",) for day in ("mon", "tue", "wed", "thu", "fri")}
    x_secrets = {
        n: ENV_PREFIX + "X_" + n.upper()
        for n in ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
    }
    data: dict[str, Any] = {
        "redis": {"url": redis_url, "partitions": 16},
        "console": {"host": "127.0.0.1", "port": console_port, "public_url": f"http://127.0.0.1:{console_port}"},
        "teams": [
            {
                "id": "support",
                "name": "Customer support",
                "default": True,
                "hours": {"timezone": "Asia/Seoul", "weekly": weekdays},
            },
            {"id": "security", "name": "Security on call", "hours": {"always_open": True}},
        ],
        "agents": [
            {"id": "mina", "name": "Mina Park", "teams": ["support"], "languages": ["ko", "en"], "capacity": 8},
            {"id": "wei", "name": "Wei Chen", "teams": ["support"], "languages": ["zh", "en"], "capacity": 8},
            {"id": "yuki", "name": "Yuki Sato", "teams": ["support"], "languages": ["ja", "en"], "capacity": 8},
            {"id": "sam", "name": "Sam Taylor", "teams": ["support", "security"], "capacity": 8},
        ],
        "accounts": [
            {
                "platform": "telegram",
                "name": "exchange_bot",
                "base_url": emulators.telegram,
                "poll_interval": 1.0,
                "secrets": {"token": ENV_PREFIX + "TELEGRAM_TOKEN"},
                "options": {"long_poll_timeout": 1},
            },
            {
                "platform": "x",
                "name": "HelplineExchange",
                "base_url": emulators.x,
                "poll_interval": 4.0,
                "secrets": x_secrets,
                "options": {"user_id": "1000", "handle": "HelplineExchange"},
            },
            {
                "platform": "mastodon",
                "name": "support",
                "base_url": emulators.mastodon,
                "poll_interval": 2.0,
                "secrets": {"access_token": ENV_PREFIX + "MASTODON_TOKEN"},
            },
            *_mail_account(emulators.mail, data_dir),
            *_webchat_account(site_origin),
        ],
        "rules": [
            {
                "name": "possible account takeover goes to security",
                "match": {
                    "keywords": [
                        "hacked",
                        "stolen",
                        "unauthorized withdrawal",
                        "해킹",
                        "도용",
                        "被盗",
                        "盗号",
                        "乗っ取",
                        "不正出金",
                    ]
                },
                "set": {"priority": "urgent", "team": "security", "labels": ["security"], "stop": True},
            },
            {"name": "everything else starts with the help-center bot", "set": {"bot": "helpcenter"}},
        ],
        "bots": {"helpcenter": {"type": "helpcenter", "kb": str(DEMO_KB)}},
        "sla": [
            {
                "name": "security on call",
                "team": "security",
                "first_response_minutes": 5,
                "next_response_minutes": 10,
                "resolution_minutes": 120,
            },
            {
                "name": "customer support",
                "team": "support",
                "first_response_minutes": 2,
                "next_response_minutes": 5,
                "resolution_minutes": 60,
            },
        ],
        "insights": {"timezone": "Asia/Seoul", "scan_interval_seconds": 2, "sla_tick_seconds": 5},
        # the record, embedded: nothing to install
        "database": {"url": f"sqlite:///{(data_dir / 'record.db').resolve()}"},
    }
    return Settings(**data)


async def run_demo(
    data_dir: Path, console_port: int, interval: float, stop: asyncio.Event, announce: Any = print
) -> None:
    if console_port and port_taken("127.0.0.1", console_port):  # before anything is started
        raise DemoFailed(f"port {console_port} is in use; choose another with --port")
    env = demo_secrets(data_dir)
    env[ENV_PREFIX + "MAIL_USER"] = "support"
    os.environ.update(env)
    async with AsyncExitStack() as stack:
        url = os.environ.get("REDIS_URL")
        if not url:
            server = EmbeddedRedis(data_dir / "redis", password=env[ENV_PREFIX + "REDIS_PASSWORD"]).start()
            stack.callback(server.stop)
            url = server.url
        emulators = await stack.enter_async_context(run_emulators(env))
        site_port = free_port()
        settings = demo_settings(
            url, emulators, console_port or free_port(), data_dir, site_origin=f"http://127.0.0.1:{site_port}"
        )
        script = f"{settings.console.public_url}/webhooks/webchat/site/webchat.js"
        site = await stack.enter_async_context(
            serve(demo_site(script, env[ENV_PREFIX + "WEBCHAT_SECRET"]), port=site_port)
        )
        client = settings.redis.client()
        stack.push_async_callback(client.aclose)
        assignments = AssignmentStore(client)
        await sync_roster(settings, assignments)
        await _agents_online(assignments)
        logins = await _demo_logins(settings, client, env)
        await seed_canned(client)
        from .cli import serve_console

        questions_file = DEMO_KB / "eval" / "questions.jsonl"
        simulation = Simulation.from_kb(emulators.as_dict(), questions_file, interval)
        await _announcement_channel(emulators.telegram)
        roles = asyncio.create_task(
            run_roles(
                settings,
                client,
                ["connectors", "router", "sender", "console", "insights", "publisher", "archiver"],
                stop,
                console=serve_console,
            )
        )
        tasks = [roles, asyncio.create_task(simulation.run(stop))]
        if emulators.mail is not None:
            mail = MailSimulation(
                emulators.mail.dovecot,
                "support",
                SUPPORT_ADDRESS,
                Simulation.from_kb({}, questions_file, interval).questions,
                interval=interval * 2,
            )
            tasks.append(asyncio.create_task(mail.run(stop)))
        announce(_banner(settings, emulators, url, logins, data_dir, site))
        try:
            await asyncio.gather(*tasks)
        finally:
            stop.set()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task


DEMO_CHANNEL = -1001234567890


async def _announcement_channel(telegram: str) -> None:
    """The exchange's announcement channel on the Telegram emulator (a target for marketing)."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{telegram}/_emulator/chats",
            json={
                "chats": [
                    {
                        "id": DEMO_CHANNEL,
                        "type": "channel",
                        "title": "Helpline Exchange Announcements",
                        "username": "helpline_exchange_news",
                    }
                ]
            },
        )
        response.raise_for_status()


async def _agents_online(assignments: AssignmentStore) -> None:
    """One agent starts online (and the security on-call); the others come online from the console,
    so the demo shows queues, off-hours notices and SLA escalations too."""
    from helpline.routing.models import Presence

    for agent_id in ("mina", "sam"):
        await assignments.set_presence(agent_id, Presence.ONLINE)


async def _demo_logins(settings: Settings, client: redis.Redis, env: dict[str, str]) -> list[tuple[str, str, str]]:
    """Console accounts for the demo (username, password, role); agents match the roster."""
    from helpline.console.users import UserStore

    users = UserStore(client)
    agent_password = env[ENV_PREFIX + "AGENT_PASSWORD"]
    wanted: list[tuple[str, str, str, dict[str, Any]]] = [
        ("admin", env[ENV_PREFIX + "ADMIN_PASSWORD"], "admin", {"name": "Demo admin"}),
        (
            "lee",
            env[ENV_PREFIX + "SUPERVISOR_PASSWORD"],
            "supervisor",
            {"name": "Lee Jung", "teams": ["support", "security"], "capacity": 4},
        ),
        ("max", env[ENV_PREFIX + "MARKETING_PASSWORD"], "marketing", {"name": "Max Weber"}),
    ]
    for a in settings.agents:
        profile: dict[str, Any] = {
            "name": a.name,
            "teams": list(a.teams),
            "languages": list(a.languages),
            "capacity": a.capacity,
        }
        wanted.append((a.id, agent_password, "agent", profile))
    for username, password, role, details in wanted:
        if await users.get(username) is None:
            await users.add(username, password, role, **details)
        else:
            await users.set_password(username, password)  # the secrets file is the source of truth
    agents = [a.id for a in settings.agents]
    return [(u, p, r) for u, p, r, _ in wanted if u not in agents[1:]] + [
        (", ".join(agents[1:]), "(same password as " + agents[0] + ")", "agents")
    ]


def _mail_banner(mail: Mail | None) -> list[str]:
    if mail is None:
        return ["  Mailbox:    (dovecot-imapd is not installed: no e-mail channel)"]
    return [
        f"  Mailbox:    {SUPPORT_ADDRESS} on IMAP 127.0.0.1:{mail.dovecot.port}, "
        f"SMTP relay 127.0.0.1:{mail.relay.port};",
        f"              customers' mailboxes: {', '.join(u for _, u, _ in PEOPLE)} (password "
        f"{ENV_PREFIX}CUSTOMER_MAIL_PASSWORD in secrets.env)",
    ]


def _banner(
    settings: Settings,
    emulators: Emulators,
    redis_url: str,
    logins: list[tuple[str, str, str]],
    data_dir: Path,
    site: str,
) -> str:
    lines = [
        "",
        "Helpline demo is running.",
        f"  Console:    {settings.console.public_url}",
        f"  Help center: {settings.console.public_url}/help/  (public: no login)",
        f"  Web chat:   {site}/  (a company page with the chat widget)",
        f"              {site}/signed-in?user=demo-42  (a signed-in customer, identity verified by HMAC)",
        *[f"  Login:      {u} / {p}   ({role})" for u, p, role in logins],
        f"  Redis:      {redact(redis_url)}  (data in {data_dir / 'redis'}; password in {data_dir / 'secrets.env'})",
        f"  Record:     {settings.database.url}  (SQLite: archived conversations, search)",
        f"  Emulators:  telegram {emulators.telegram}  x {emulators.x}  mastodon {emulators.mastodon}",
        *_mail_banner(emulators.mail),
        "  Simulated customers are writing in English, Korean, Chinese and Japanese.",
        f"  Announcements: targets x:HelplineExchange, mastodon:support, telegram:exchange_bot:{DEMO_CHANNEL},",
        "                 telegram:exchange_bot:subscribers (customers send /subscribe to the bot)",
        "  Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)
