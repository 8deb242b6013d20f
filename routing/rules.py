"""Routing rules from the config: match a message, decide priority, team, labels, or a bot.

Matching and deciding are pure: `decide(rules, message, now, hours)` looks only at its arguments.
Rules apply in order; each match adds its settings (later scalars win, labels accumulate) until a
matching rule says `stop = true`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .hours import BusinessHours
from .models import InboundMessage, MessageKind, Priority

_NAME = r"^[A-Za-z0-9_.-]{1,64}$"  # a team id or bot name, as the config spells them


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    platforms: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    kinds: tuple[MessageKind, ...] = ()
    languages: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()  # any of them, case-insensitive substring (works for CJK too)
    regex: str | None = None
    senders: tuple[str, ...] = ()  # platform user ids or handles
    hours: Literal["open", "closed"] | None = None  # of the team in `hours_of` (or the default)
    hours_of: str | None = None

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from exc
        return value


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    priority: Priority | None = None
    team: str | None = Field(default=None, pattern=_NAME)
    labels: tuple[str, ...] = ()
    bot: str | None = Field(default=None, pattern=_NAME)  # hand the conversation to this bot first
    stop: bool = False


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    match: Match = Field(default_factory=Match)
    set: Action = Field(default_factory=Action)


@dataclass(frozen=True)
class Decision:
    priority: Priority
    team: str | None
    labels: tuple[str, ...]
    bot: str | None
    matched: tuple[str, ...]  # rule names, in order: the decision's reason

    @property
    def reason(self) -> str:
        return "rules: " + ", ".join(self.matched) if self.matched else "no rule matched: defaults"


def matches(
    rule: Rule, message: InboundMessage, now: datetime, hours: Mapping[str, BusinessHours], default_team: str | None
) -> bool:
    m = rule.match
    if m.platforms and message.platform not in m.platforms:
        return False
    if m.accounts and message.account not in m.accounts:
        return False
    if m.kinds and message.kind not in m.kinds:
        return False
    if m.languages and message.language not in m.languages:
        return False
    if m.senders and not ({message.author.user_id, message.author.handle.lstrip("@")} & set(m.senders)):
        return False
    text = message.text.casefold()
    if m.keywords and not any(k.casefold() in text for k in m.keywords):
        return False
    if m.regex is not None and not _compiled(m.regex).search(message.text):
        return False
    if m.hours is not None:
        schedule = hours.get(m.hours_of or default_team or "")
        is_open = schedule.is_open(now) if schedule else True
        if (m.hours == "open") != is_open:
            return False
    return True


def decide(
    rules: Sequence[Rule],
    message: InboundMessage,
    now: datetime,
    hours: Mapping[str, BusinessHours],
    default_team: str | None,
) -> Decision:
    priority, team, bot = Priority.NORMAL, default_team, None
    labels: list[str] = []
    matched: list[str] = []
    for rule in rules:
        if not matches(rule, message, now, hours, team):
            continue
        matched.append(rule.name)
        action = rule.set
        priority = action.priority or priority
        team = action.team or team
        bot = action.bot or bot
        labels += [label for label in action.labels if label not in labels]
        if action.stop:
            break
    return Decision(priority, team, tuple(labels), bot, tuple(matched))


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return compiled
