"""What the console's routes share: the process's Redis client, bus and stores, the connectors and
the local health (given by whoever builds the app), plus the console's own stores."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import redis.asyncio as redis
from fastapi import Request

from helpline.archive.database import Database
from helpline.bots.kb import KnowledgeBase
from helpline.config import Settings
from helpline.connectors.base import Connector
from helpline.connectors.capabilities import CapabilityLookup
from helpline.connectors.registry import capabilities_lookup
from helpline.health.heartbeat import ProcessHealth
from helpline.routing.assignment import AssignmentStore
from helpline.routing.bus import StreamBus
from helpline.routing.store import ConversationStore

from .canned import CannedStore
from .links import ContactLinks
from .sessions import SessionStore
from .throttle import LoginThrottle
from .tokens import TokenStore
from .users import UserStore


@dataclass
class Services:
    settings: Settings
    client: redis.Redis
    bus: StreamBus
    store: ConversationStore
    assignments: AssignmentStore
    connectors: Mapping[tuple[str, str], Connector]
    health: ProcessHealth
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
    def build(
        cls,
        settings: Settings,
        client: redis.Redis,
        bus: StreamBus,
        store: ConversationStore,
        assignments: AssignmentStore,
        connectors: Mapping[tuple[str, str], Connector],
        health: ProcessHealth,
    ) -> Services:
        from helpline.bot_setup import help_center_articles

        c = client
        return cls(
            settings,
            c,
            bus,
            store,
            assignments,
            connectors,
            health,
            UserStore(c),
            SessionStore(c),
            TokenStore(c),
            LoginThrottle(c),
            CannedStore(c),
            ContactLinks(c),
            teams=tuple(t.id for t in settings.teams),
            capabilities=capabilities_lookup(settings.accounts, connectors),
            record=Database(settings.database.url),
            articles=help_center_articles(settings),
        )


def services(request: Request) -> Services:
    svc: Services = request.app.state.console
    return svc
