"""The acknowledgement bot: answers at once in the customer's language, then hands over.

With `handoff = false` it keeps the conversation and acknowledges every message (used by the
pipeline benchmark, and by desks that only want an automatic receipt).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .base import BotContext, BotDecision, BotReply, Handoff


@dataclass
class AutoReplyBot:
    texts: Mapping[str, str]  # language -> acknowledgement text (from the config's catalog)
    name: str = "autoreply"
    handoff: bool = True
    fallback_language: str = "en"
    needs_contact: bool = field(default=False, init=False)

    def text_for(self, language: str) -> str:
        return self.texts.get(language) or self.texts[self.fallback_language]

    async def handle(self, ctx: BotContext) -> BotDecision:
        """Pure: the same context gives the same decision."""
        reply = BotReply(self.text_for(ctx.language))
        if self.handoff:
            return BotDecision(
                replies=(reply,),
                handoff=Handoff("acknowledged; a human answers next"),
                note="automatic acknowledgement",
            )
        return BotDecision(replies=(reply,), note="automatic acknowledgement")
