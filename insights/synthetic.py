"""Realistic synthetic conversation histories for the reports benchmark (pure, seeded).

A crypto exchange desk: X, Telegram and Mastodon accounts; en/ko/zh/ja; a help-center bot that
answers most questions with an article and hands the rest to the team of the language; agents
answering in minutes (heavy tail), follow-ups, resolutions, a few reopenings, ratings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from helpline.routing.hours import BusinessHours
from helpline.routing.models import ConversationEvent, EventType

from .fold import MESSAGE, Item
from .settings import SlaPolicy

CHANNELS = (
    ("x", "exchange", 0.30),
    ("x", "exchange_kr", 0.15),
    ("telegram", "exchange_bot", 0.25),
    ("telegram", "kr_support_bot", 0.15),
    ("mastodon", "exchange", 0.15),
)
LANGUAGES = (
    ("en", "global", "UTC", 0.40),
    ("ko", "korea", "Asia/Seoul", 0.30),
    ("zh", "greater-china", "Asia/Shanghai", 0.15),
    ("ja", "japan", "Asia/Tokyo", 0.15),
)
TOPICS = (
    "withdrawal-delay",
    "deposit-missing",
    "2fa-reset",
    "kyc",
    "login",
    "fees",
    "staking",
    "api",
    "card",
    "p2p",
    "listing",
    "margin",
    "futures",
    "airdrop",
    "phishing",
    "account-locked",
    "tax-report",
    "referral",
    "mobile-app",
    "earn",
    "nft",
    "convert",
    "launchpad",
    "sub-account",
)
ARTICLES = tuple(f"{t}-guide" for t in TOPICS)
# Topics whose weekly volume trends (week multiplicity per week index); the rest stay flat.
TRENDS = {
    "withdrawal-delay": (0, 0, 1, 1, 1, 1, 1, 1, 2, 3),
    "phishing": (1, 1, 1, 1, 1, 1, 1, 2, 2, 2),
    "airdrop": (2, 2, 2, 1, 1, 1, 1, 1, 0, 0),
}
AGENTS_PER_TEAM = 10
MINUTE = 60_000


def team_hours() -> dict[str, BusinessHours]:
    week = {d: ("09:00-18:00",) for d in ("mon", "tue", "wed", "thu", "fri")}
    hours = {team: BusinessHours(timezone=zone, weekly=week) for _, team, zone, _ in LANGUAGES}
    hours["global"] = BusinessHours(always_open=True)
    return hours


def policies() -> list[SlaPolicy]:
    return [
        SlaPolicy(name="phishing", label="phishing", first_response_minutes=5, resolution_minutes=240),
        SlaPolicy(
            name="business",
            team="korea",
            first_response_minutes=30,
            next_response_minutes=60,
            resolution_minutes=8 * 60,
            business_hours=True,
        ),
        SlaPolicy(name="default", first_response_minutes=15, next_response_minutes=30, resolution_minutes=24 * 60),
    ]


def week_multiplicity(topic: str, week: int) -> int:
    trend = TRENDS.get(topic)
    return 1 if trend is None else trend[week % len(trend)]


@dataclass
class Template:
    """One conversation history placed in week 0; `at` values are ms since the epoch."""

    platform: str
    account: str
    language: str
    team: str
    topic: str
    messages: list[int]
    events: list[Item]
    labels: list[str]
    rating: tuple[int, int, str] | None = None  # score, at (ms), agent
    extra: dict[str, str] = field(default_factory=dict)

    def shifted(self, ms: int) -> Template:
        return Template(
            self.platform,
            self.account,
            self.language,
            self.team,
            self.topic,
            [m + ms for m in self.messages],
            [Item(e.at_ms + ms, e.kind, e.actor, e.data) for e in self.events],
            list(self.labels),
            None if self.rating is None else (self.rating[0], self.rating[1] + ms, self.rating[2]),
        )

    def conversation_events(self, cid: str) -> list[ConversationEvent]:
        return [
            ConversationEvent(
                conversation_id=cid,
                type=EventType(e.kind),
                actor=e.actor or "router",
                data=dict(e.data),
                at=datetime.fromtimestamp(e.at_ms / 1000, UTC),
            )
            for e in self.events
        ]


def _pick(rng: random.Random, weighted: tuple[tuple[object, ...], ...]) -> tuple[object, ...]:
    return rng.choices(weighted, weights=[float(str(w[-1])) for w in weighted])[0]


def template(rng: random.Random, week_start: date) -> Template:
    platform, account, _ = _pick(rng, CHANNELS)
    language, team, _, _ = _pick(rng, LANGUAGES)
    topic = rng.choices(TOPICS, weights=[1.0 / (i + 1) for i in range(len(TOPICS))])[0]
    if topic in ("phishing", "account-locked"):
        team = "security"
    base = int(datetime(week_start.year, week_start.month, week_start.day, tzinfo=UTC).timestamp() * 1000)
    # Busier in the customer's daytime: a diurnal wave, not uniform arrivals.
    day = rng.randrange(7)
    hour = min(23, max(0, int(rng.gauss(14, 5))))
    t = base + day * 86_400_000 + hour * 3_600_000 + rng.randrange(3_600_000)
    ev: list[Item] = []
    msgs = [t]
    labels = [topic]
    ev.append(Item(t + 5, EventType.CREATED.value, "router", {"platform": str(platform), "account": str(account)}))
    ev.append(Item(t + 5, EventType.ROUTED.value, "router", {"team": str(team), "labels": labels, "bot": "faq"}))
    ev.append(Item(t + 5, EventType.BOT_ASSIGNED.value, "router", {"bot": "faq"}))
    now = t + rng.randrange(1500, 9000)
    ev.append(Item(now, EventType.REPLY_QUEUED.value, "bot:faq", {"article": ARTICLES[TOPICS.index(topic)]}))
    rating: tuple[int, int, str] | None = None
    if rng.random() < 0.5:  # the article solved it
        now += rng.randrange(MINUTE, 30 * MINUTE)
        ev.append(Item(now, EventType.STATUS.value, "bot:faq", {"status": "resolved", "by_bot": True}))
        if rng.random() < 0.25:
            rating = (rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 2, 5, 8))[0], now + 5 * MINUTE, "bot:faq")
        return Template(str(platform), str(account), str(language), str(team), topic, msgs, ev, labels, rating)
    now += rng.randrange(20_000, 5 * MINUTE)
    msgs.append(now)
    ev.append(Item(now + 10, EventType.HANDOFF.value, "bot:faq", {"summary": "needs a human"}))
    ev.append(Item(now + 10, EventType.QUEUED.value, "router", {"team": str(team), "priority": "normal"}))
    agent = f"{team}-{rng.randrange(AGENTS_PER_TEAM)}"
    now += int(rng.lognormvariate(13.3, 1.1))  # median ~10 minutes, long tail
    ev.append(Item(now, EventType.ASSIGNED.value, "router", {"agent": agent}))
    now += rng.randrange(10_000, 3 * MINUTE)
    ev.append(Item(now, EventType.REPLY_QUEUED.value, f"agent:{agent}", {}))
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        now += rng.randrange(MINUTE, 120 * MINUTE)
        msgs.append(now)
        now += int(rng.lognormvariate(12.8, 1.0))
        ev.append(Item(now, EventType.REPLY_QUEUED.value, f"agent:{agent}", {}))
    if rng.random() < 0.15:
        extra = rng.choice(TOPICS)
        if extra not in labels:
            labels = sorted({*labels, extra})
            ev.append(Item(now + 1, EventType.LABELS.value, f"agent:{agent}", {"labels": labels}))
    if rng.random() < 0.93:
        now += rng.randrange(MINUTE, 600 * MINUTE)
        ev.append(Item(now, EventType.STATUS.value, f"agent:{agent}", {"status": "resolved"}))
        if rng.random() < 0.3:
            rating = (rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 2, 4, 6))[0], now + 5 * MINUTE, f"agent:{agent}")
        if rng.random() < 0.08:
            now += rng.randrange(MINUTE, 48 * 60 * MINUTE)
            msgs.append(now)
            ev.append(Item(now + 5, EventType.REOPENED.value, "router", {}))
    elif rng.random() < 0.5:
        ev.append(Item(now + MINUTE, EventType.STATUS.value, f"agent:{agent}", {"status": "pending"}))
    return Template(str(platform), str(account), str(language), str(team), topic, msgs, ev, labels, rating)


def templates(n: int, week_start: date, seed: int) -> list[Template]:
    rng = random.Random(seed)
    return [template(rng, week_start) for _ in range(n)]


__all__ = ["MESSAGE", "Template", "policies", "team_hours", "templates", "week_multiplicity"]
