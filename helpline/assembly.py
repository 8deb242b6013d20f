"""The composition root: the router's chain of steps, built from the configuration.

`routing` runs whatever chain it is given and knows no feature; this module is where the
features meet it, in their order:

1. survey rating      a customer answering the satisfaction survey (ends the chain)
2. reopened           a resolved conversation written to again is recorded as reopened
3. reassignment       ... and, without a bot or agent, goes back to an agent or the queue
   edited messages    an edit of a message already in the conversation is kept, not answered
                      again (ends the chain)
   automatic messages an auto-submitted message gets no automatic answer (ends the chain; the
                      conversation it starts goes to the humans)
4. subscriptions      /subscribe, /unsubscribe in a Telegram private chat (ends the chain)
5. incidents          a message matching an open incident is linked and answered (ends the chain)
6. bots               the conversation's bot answers (a handoff asks for an agent)
7. survey             a conversation the bot resolved asks for a rating ([survey] enabled)
8. assignment         a conversation that needs a human gets an agent, or waits in the queue
9. off-hours          a conversation queued for a closed team: the customer is told when it opens
10. waiting notice    ... for an open team, on a live chat: the customer is told the usual wait
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import redis.asyncio as redis

from helpline.announcements.incidents import IncidentStore
from helpline.announcements.steps import IncidentStep, SubscriptionStep
from helpline.announcements.subscribers import SubscriberStore
from helpline.bots.automatic import AutomaticMessageStep
from helpline.bots.base import Bot
from helpline.bots.catalog import default_catalog
from helpline.bots.edits import EditedMessageStep
from helpline.bots.language import message_language
from helpline.bots.offhours import OffHoursStep
from helpline.bots.step import BotStep
from helpline.bots.survey import RatingStep, SurveyStep
from helpline.bots.waiting import WaitingNoticeStep
from helpline.connectors.registry import capabilities_lookup
from helpline.insights.metrics import observe_route
from helpline.insights.ratings import RatingStore
from helpline.insights.usual_wait import usual_wait
from helpline.routing.assignment import AssignmentStore
from helpline.routing.assignment_step import AssignmentStep, Recall
from helpline.routing.chain import Step
from helpline.routing.ownership import PartitionLeases
from helpline.routing.router import ReopenedStep, Router, RouterSettings
from helpline.routing.store import ConversationStore

from .bot_setup import build_bots, language_detector
from .config import Settings


def router_steps(
    settings: Settings,
    client: redis.Redis,
    store: ConversationStore,
    assignments: AssignmentStore,
    bots: Mapping[str, Bot],
    recall: Recall | None = None,
) -> list[Step]:
    catalog = default_catalog()
    assignment = AssignmentStep(assignments, store, recall=recall)
    steps: list[Step] = [
        RatingStep(catalog, RatingStore(client, settings.insights.timezone)),
        ReopenedStep(),
        AssignmentStep(assignments, store, reopened_only=True, name="reassignment", recall=recall),
        EditedMessageStep(),
        AutomaticMessageStep(assignment),
        SubscriptionStep(SubscriberStore(client)),
        IncidentStep(IncidentStore(client)),
        BotStep(bots, store, client),
    ]
    if settings.survey.enabled:
        steps.append(SurveyStep(catalog))
    capabilities = capabilities_lookup(settings.accounts)
    zone = ZoneInfo(settings.insights.timezone)

    def shows_notice(platform: str, account: str) -> bool:
        found = capabilities(platform, account)
        return found is not None and found.waiting_notice

    async def team_wait(team: str) -> float | None:
        return await usual_wait(client, team, zone, datetime.now(UTC))

    steps += [
        assignment,
        OffHoursStep(settings.hours, catalog),
        WaitingNoticeStep(settings.hours, catalog, team_wait, shows_notice),
    ]
    return steps


def assemble_router(
    settings: Settings,
    client: redis.Redis,
    store: ConversationStore,
    assignments: AssignmentStore,
    bots: Mapping[str, Bot] | None = None,
    leases: PartitionLeases | None = None,
    recall: Recall | None = None,
) -> Router:
    """A router with the configured steps and bots; with `leases`, fenced to the partitions it holds;
    with `recall`, a contact's last agent is looked up there when Redis no longer has it."""
    bots = bots if bots is not None else build_bots(settings)
    s = settings
    router_settings = RouterSettings(
        rules=s.rules,
        hours=s.hours,
        default_team=s.default_team,
        account_languages={(a.platform, a.name): a.language for a in s.accounts},
        default_language=s.languages.default,
    )
    return Router(
        client,
        store,
        router_settings,
        router_steps(s, client, store, assignments, bots, recall),
        bot_names=bots.keys(),
        normalize=message_language(language_detector(s.languages.supported), s.languages.supported),
        fences=leases.tokens if leases is not None else None,
        observe=observe_route,
    )
