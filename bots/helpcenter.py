"""The help-center bot: answers from the knowledge base, asks if it helped, hands off otherwise.

Order of concerns for each customer message (first that applies wins, except that safety
replies are combined with a handoff):

0. a /start or /help command: a greeting or an explanation of what the bot does, nothing searched;
   a photo, sticker, voice note or file without text: handoff (a person has to look at it), nothing searched;
1. account details in a PUBLIC thread: a short safe template inviting a DM (the detail is never
   repeated) and, if a secret was posted, a private warning; label "moved-to-private";
2. an emergency (hacked account, stolen funds) or a request for a human: handoff;
3. an answer to "Did this solve it?": yes resolves; no retries once more, then hands off;
4. an answer to "Is it about: 1) … 2) …?" (a button, or the number typed): that article;
5. otherwise retrieval in the customer's language: answer above the threshold; when two or three
   articles are plausible and none is sure, ask which (buttons where the platform has them, the
   same choices numbered elsewhere; labelled "bot-clarified" so they are counted); else handoff
   with a summary of what was asked and tried. An article missing in the customer's language
   comes in the account's default language with a one-line note.

`decide` is pure: the same context gives the same decision, so the router may ask twice.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

import redis.asyncio as redis

from helpline.bots.base import LABEL_MOVED_TO_PRIVATE, ArticleFeedback, BotContext, BotDecision, BotReply, Handoff
from helpline.bots.catalog import Catalog, default_catalog
from helpline.bots.generative import Generator
from helpline.bots.intent import Detail, Intents, bot_command, detect, feedback
from helpline.bots.kb import Article
from helpline.bots.phrasings import ExampleRefresher
from helpline.bots.search import Hit, Searcher
from helpline.routing.models import Priority, ReplyButton, Visibility

STAGE_FEEDBACK = "feedback"
STAGE_CLARIFY = "clarify"
LABEL_URGENT = "urgent"
LABEL_CLARIFIED = "bot-clarified"
HUMAN_CHOICE = "human"  # the "talk to a person" button's data: a word the human intent knows
_CHOICE = re.compile(r"^\D{0,8}?([1-9])\D{0,6}$")  # "2", "#2", "option 2", "2번", "2号"
_SECRET_ORDER = (Detail.SEED_PHRASE, Detail.PRIVATE_KEY, Detail.PASSWORD)
#: Commands answered with a catalog text instead of a search (Telegram sends /start first).
_COMMAND_TEXTS = {"start": "greeting", "help": "help"}
_MEDIA_NAMES = ("photo", "sticker", "voice", "audio")  # named in the customer's language; anything else is a "file"


@dataclass(frozen=True)
class _Search:
    """A decision that waits on retrieval: the one text to search, and what the answer carries."""

    query: str
    question: str
    attempts: int = 0
    tried: tuple[tuple[str, str], ...] = ()
    retry: bool = False
    feedback: ArticleFeedback | None = None


@dataclass(frozen=True)
class HelpCenterSettings:
    max_attempts: int = 2  # answers offered for one question before a human takes over
    answer_chars: int = 280  # social-media sized; the link carries the rest
    question_chars: int = 500  # how much of the question is kept in state for the summary


def trim(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a sentence end when one is near."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cut = max(head.rfind(p) for p in (". ", "。", "! ", "? ", "！", "？", "다. "))
    if cut >= limit // 2:
        return head[: cut + 1].rstrip()
    return head.rstrip() + "…"


def _tried(state_value: str) -> list[tuple[str, str]]:
    pairs = [item.split("=", 1) for item in state_value.split(",") if "=" in item]
    return [(k, v) for k, v in pairs]


class HelpCenterBot:
    name = "helpcenter"

    def __init__(
        self,
        searcher: Searcher,
        catalog: Catalog | None = None,
        settings: HelpCenterSettings | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.searcher = searcher
        self.catalog = catalog or default_catalog()
        self.settings = settings or HelpCenterSettings()
        self.generator = generator
        self.examples = ExampleRefresher(searcher)

    async def refresh(self, client: redis.Redis) -> None:
        """Pick up newly approved examples (the bot step calls this once per batch)."""
        await self.examples.refresh(client)

    async def handle(self, ctx: BotContext) -> BotDecision:
        """Decide about one customer message. Idempotent: no effects, only a decision."""
        step = self._route(ctx)
        if isinstance(step, _Search):
            # The one text this turn searches is embedded here, off the event loop; a turn that
            # searches nothing (a "yes", a chosen number, a handoff) embeds nothing.
            await self.searcher.prepare(step.query)
            decision, article = self._search(ctx, step)
        else:
            decision, article = step
        if article is None or self.generator is None:
            return decision
        # Optional generative wording of the same article; any failure keeps the retrieval answer.
        text = await self.generator.answer(ctx.message.text, ctx.language, [article])
        if not text:
            return decision
        last = decision.replies[-1]
        ask = self.catalog.text(ctx.language, "ask_feedback")
        reply = replace(last, text=f"{text}\n\n{ask}")
        return replace(decision, replies=(*decision.replies[:-1], reply), note=decision.note + " (generative)")

    def decide(self, ctx: BotContext) -> BotDecision:
        return self._decide(ctx)[0]

    def _t(self, ctx: BotContext, message_id: str, **params: object) -> str:
        return self.catalog.text(ctx.language, message_id, **params)

    def _decide(self, ctx: BotContext) -> tuple[BotDecision, Article | None]:
        step = self._route(ctx)
        return self._search(ctx, step) if isinstance(step, _Search) else step

    def _search(self, ctx: BotContext, step: _Search) -> tuple[BotDecision, Article | None]:
        decision, article = self._answer(
            ctx, step.query, attempts=step.attempts, tried=list(step.tried), question=step.question, retry=step.retry
        )
        return (replace(decision, feedback=step.feedback), article) if step.feedback else (decision, article)

    def _route(self, ctx: BotContext) -> tuple[BotDecision, Article | None] | _Search:
        """The decision, or the search it waits for (the text to embed is known before searching)."""
        text = ctx.message.text
        command = bot_command(text)
        # "/start <payload>" is a deep link (still a first contact); "/help <question>" is a question.
        if command in _COMMAND_TEXTS and (command == "start" or len(text.split()) == 1):
            reply = BotReply(self._t(ctx, _COMMAND_TEXTS[command]))
            return BotDecision((reply,), pending=True, state=dict(ctx.state), note=f"/{command}: greeted"), None
        if not text.strip() and ctx.message.attachments:
            return self._media_handoff(ctx), None
        intents = detect(text)
        public = ctx.conversation.visibility is Visibility.PUBLIC
        replies: list[BotReply] = []
        labels: list[str] = []
        if public and intents.account_specific:
            replies.extend(self._move_to_private(ctx, intents))
            labels.append(LABEL_MOVED_TO_PRIVATE)
        if intents.urgent or intents.human:
            return self._handoff_now(ctx, intents, replies, labels), None
        if replies:
            note = "account details in a public thread: invited to a private channel"
            return BotDecision(tuple(replies), pending=True, labels=tuple(labels), note=note), None
        if ctx.state.get("stage") == STAGE_FEEDBACK:
            answer = feedback(text)
            said = ArticleFeedback(ctx.state.get("key", ""), answer == "yes") if ctx.state.get("key") else None
            if answer == "yes":
                return BotDecision(
                    (BotReply(self._t(ctx, "resolved")),),
                    resolve=True,
                    feedback=said,
                    note=f"customer confirmed article {ctx.state.get('key')!r} solved it",
                ), None
            if answer == "no":
                return self._retry(ctx, said)
        if ctx.state.get("stage") == STAGE_CLARIFY:
            chosen = self._chosen(ctx)
            if chosen is not None:
                note = f"customer chose {chosen.key!r} among {ctx.state.get('choices')!r}"
                question = ctx.state.get("question", text)
                decision, article = self._reply(ctx, chosen, attempts=0, tried=[], question=question, note=note)
                # The customer's own words for the article they picked: an example, pending approval.
                return replace(decision, example=(chosen.key, question)), article
        return _Search(text, question=text)

    def _media_handoff(self, ctx: BotContext) -> BotDecision:
        kinds = sorted({a.kind for a in ctx.message.attachments})
        reason = f"the customer sent a {' and a '.join(kinds)} without text: a person has to look at it"
        media = kinds[0] if len(kinds) == 1 and kinds[0] in _MEDIA_NAMES else "file"
        reply = BotReply(self._t(ctx, "handoff_media", media=self._t(ctx, f"media_{media}")))
        summary = self._summary(
            ctx, ctx.state.get("question", ""), _tried(ctx.state.get("tried", "")), extra=f"[{', '.join(kinds)}]"
        )
        return BotDecision((reply,), handoff=Handoff(reason, summary), note=reason)

    def _chosen(self, ctx: BotContext) -> Article | None:
        """The offered article the customer picked by its number (typed or a button), if any."""
        keys = [k for k in ctx.state.get("choices", "").split(",") if k]
        m = _CHOICE.match(unicodedata.normalize("NFKC", ctx.message.text).strip())
        if m is None or not 1 <= int(m.group(1)) <= len(keys):
            return None
        return self.searcher.article(keys[int(m.group(1)) - 1], ctx.language)

    def _move_to_private(self, ctx: BotContext, intents: Intents) -> list[BotReply]:
        replies = [BotReply(self._t(ctx, "public_move_private"))]
        secret = next((d for d in _SECRET_ORDER if d in intents.details), None)
        if secret is not None:
            what = self._t(ctx, f"secret_{secret.value}")
            replies.append(BotReply(self._t(ctx, "private_secret_warning", secret=what), private=True))
        return replies

    def _handoff_now(
        self, ctx: BotContext, intents: Intents, replies: list[BotReply], labels: list[str]
    ) -> BotDecision:
        if intents.urgent:
            reason, message_id = "urgent: possible account compromise or stolen funds", "handoff_urgent"
            labels.append(LABEL_URGENT)
        else:
            reason, message_id = "customer asked for a human", "handoff_human"
        if not replies or intents.urgent:
            replies.append(BotReply(self._t(ctx, message_id)))
        summary = self._summary(ctx, ctx.state.get("question") or ctx.message.text, _tried(ctx.state.get("tried", "")))
        priority = Priority.URGENT if intents.urgent else None
        return BotDecision(
            tuple(replies), handoff=Handoff(reason, summary), labels=tuple(labels), priority=priority, note=reason
        )

    def _retry(self, ctx: BotContext, said: ArticleFeedback | None) -> tuple[BotDecision, Article | None] | _Search:
        attempts = int(ctx.state.get("attempts", "1") or "1")
        tried = _tried(ctx.state.get("tried", ""))
        question = ctx.state.get("question", "")
        if attempts >= self.settings.max_attempts:
            reason = f"{attempts} articles did not solve it"
            summary = self._summary(ctx, question, tried, extra=ctx.message.text)
            decision = BotDecision(
                (BotReply(self._t(ctx, "handoff_after_tries")),),
                handoff=Handoff(reason, summary),
                note=reason,
                feedback=said,
            )
            return decision, None
        # The "no" may carry new details ("no, it's USDT on TRON"); search with both.
        query = f"{question} {ctx.message.text}".strip()
        return _Search(query, question, attempts=attempts, tried=tuple(tried), retry=True, feedback=said)

    def _answer(
        self,
        ctx: BotContext,
        query: str,
        *,
        attempts: int,
        tried: list[tuple[str, str]],
        question: str,
        retry: bool = False,
    ) -> tuple[BotDecision, Article | None]:
        choice = self.searcher.choose(query, ctx.language, exclude=[k for k, _ in tried])
        hit, hits = choice.answer, choice.hits
        if hit is None and choice.choices and not retry:
            return self._clarify(ctx, choice.choices, question), None
        if hit is None:
            seen = tried + [(h.key, f"{h.confidence:.2f}") for h in hits]
            reason = "no help-center article above the confidence threshold"
            summary = self._summary(ctx, question, seen)
            handoff = Handoff(
                reason, summary, unanswered=not tried, question=trim(question, self.settings.question_chars)
            )
            decision = BotDecision((BotReply(self._t(ctx, "handoff_not_found")),), handoff=handoff, note=reason)
            return decision, None
        note = f"answered with {hit.key!r} (confidence {hit.confidence:.2f})"
        return self._reply(
            ctx,
            hit.article,
            attempts=attempts,
            tried=[*tried, (hit.key, f"{hit.confidence:.2f}")],
            question=question,
            note=note,
            retry=retry,
        )

    def _clarify(self, ctx: BotContext, offered: tuple[Hit, ...], question: str) -> BotDecision:
        buttons = tuple(ReplyButton(label=trim(h.article.title, 64), data=str(i)) for i, h in enumerate(offered, 1))
        person = ReplyButton(label=trim(self._t(ctx, "button_person"), 64), data=HUMAN_CHOICE)
        state = {
            "stage": STAGE_CLARIFY,
            "choices": ",".join(h.key for h in offered),
            "question": question[: self.settings.question_chars],
        }
        note = "offered a choice of " + ", ".join(f"{h.key!r} ({h.confidence:.2f})" for h in offered)
        return BotDecision(
            (BotReply(self._t(ctx, "clarify_ask"), (*buttons, person)),),
            pending=True,
            state=state,
            labels=(LABEL_CLARIFIED,),
            note=note,
        )

    def _reply(
        self,
        ctx: BotContext,
        article: Article,
        *,
        attempts: int,
        tried: list[tuple[str, str]],
        question: str,
        note: str,
        retry: bool = False,
    ) -> tuple[BotDecision, Article | None]:
        answer = trim(article.answer, self.settings.answer_chars)
        body = (
            self._t(ctx, "answer_with_link", answer=answer, url=article.url)
            if article.url
            else self._t(ctx, "answer", answer=answer)
        )
        if article.language != ctx.language:  # no translation: the default language's, said so
            body = f"{self._t(ctx, 'untranslated_note')}\n{body}"
        if retry:
            body = f"{self._t(ctx, 'retry_intro')}\n{body}"
        buttons = (
            ReplyButton(label=self._t(ctx, "button_yes"), data="yes"),
            ReplyButton(label=self._t(ctx, "button_no"), data="no"),
        )
        reply = BotReply(f"{body}\n\n{self._t(ctx, 'ask_feedback')}", buttons)
        if not tried or tried[-1][0] != article.key:
            tried = [*tried, (article.key, "chosen")]
        state = {
            "stage": STAGE_FEEDBACK,
            "key": article.key,
            "attempts": str(attempts + 1),
            "tried": ",".join(f"{k}={c}" for k, c in tried),
            "question": question[: self.settings.question_chars],
        }
        return BotDecision((reply,), pending=True, state=state, note=note, article=article.key), article

    def _summary(self, ctx: BotContext, question: str, tried: list[tuple[str, str]], extra: str = "") -> str:
        # For agents, not customers: a compact, language-neutral record of the bot's attempts.
        parts = [f"language: {ctx.language}", f"asked: {trim(question, 300)!r}"]
        if extra and extra != question:
            parts.append(f"last message: {trim(extra, 200)!r}")
        parts.append("tried: " + (", ".join(f"{k} ({c})" for k, c in tried) if tried else "nothing"))
        return "; ".join(parts)
