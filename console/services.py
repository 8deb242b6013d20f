"""What the console's routes share: the runtime parts plus the console's own stores."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from helpline.archive.database import Database
from helpline.bots.kb import KnowledgeBase
from helpline.connectors.capabilities import CapabilityLookup
from helpline.connectors.registry import capabilities_lookup
from helpline.runtime import Parts

from .canned import CannedStore
from .links import ContactLinks
from .sessions import SessionStore
from .throttle import LoginThrottle
from .tokens import TokenStore
from .users import UserStore


@dataclass
class Services:
    parts: Parts
    users: UserStore
    sessions: SessionStore
    tokens: TokenStore
    throttle: LoginThrottle
    canned: CannedStore
    links: ContactLinks
    secure_cookies: bool | None = None  # None: Secure when the request came over https
    teams: tuple[str, ...] = field(default=())
    #: What each account's platform allows (reply lengths and counting), asked of its connector.
    capabilities: CapabilityLookup = field(default=lambda platform, account: None)
    #: The SQL record: search, contact history, conversations that have left Redis.
    record: Database = field(default_factory=lambda: Database("sqlite:///var/helpline/record.db"))
    #: The help-center articles agents answer with (None without a help-center bot).
    articles: KnowledgeBase | None = None

    @classmethod
    def build(cls, parts: Parts) -> Services:
        from helpline.bot_setup import help_center_articles

        c = parts.client
        return cls(parts, UserStore(c), SessionStore(c), TokenStore(c), LoginThrottle(c), CannedStore(c),
                   ContactLinks(c), teams=tuple(t.id for t in parts.settings.teams),
                   capabilities=capabilities_lookup(parts.settings.accounts, parts.connectors),
                   record=Database(parts.settings.database.url), articles=help_center_articles(parts.settings))


def services(request: Request) -> Services:
    svc: Services = request.app.state.console
    return svc
