"""Announcements in the routing chain: subscription commands and incident mode (see
`helpline.routing.chain` for the step contract)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from helpline.routing.chain import BaseStep, Turn
from helpline.routing.models import InboundMessage

from .incident_flow import IncidentAction, apply_incident, incident_action
from .incidents import IncidentStore
from .subscribers import SubscriberStore, apply_subscription, subscription_command


@dataclass
class SubscriptionStep(BaseStep):
    """/subscribe and /unsubscribe in a Telegram private chat: recorded and answered; the chain
    ends (a subscription needs no agent). Idempotent: the store changes are set operations and
    the reply id is derived from the message."""

    subscribers: SubscriberStore
    name: str = "subscriptions"

    def check(self, turn: Turn) -> InboundMessage | None:
        return turn.message if subscription_command(turn.message) is not None else None

    async def handle(self, turn: Turn, decision: InboundMessage) -> bool:
        subscription = await apply_subscription(self.subscribers, decision, turn.language)
        if subscription is None:
            return False
        turn.system_reply(
            "subscription", subscription.text, f"announcements: {subscription.command}", subscription.buttons
        )
        return True


@dataclass
class IncidentStep:
    """A message that matches an open incident: labelled, linked to the incident and answered
    with its announcement; the chain ends. The open incidents are read once per batch."""

    incidents: IncidentStore
    name: str = "incidents"

    def check(self, turn: Turn) -> IncidentAction | None:
        open_incidents = turn.cache.get(self.name)
        if not open_incidents:
            return None
        return incident_action(open_incidents, turn.message, turn.conversation, turn.language)

    async def prepare(self, turn: Turn) -> None:
        if self.name not in turn.cache:
            turn.cache[self.name] = await self.incidents.open_incidents()

    async def handle(self, turn: Turn, decision: IncidentAction) -> bool:
        await self.incidents.link(decision.incident_id, turn.conversation_id)
        conv = turn.conversation
        apply_incident(turn.effects, decision, conv, turn.message)
        turn.note(labels=json.dumps(sorted({*conv.labels, decision.label})))
        return True
