"""Simulated customers for `helpline demo`: they write to the platform emulators' control APIs.

Each customer has a platform, a language and a channel (public or private). They ask questions
a crypto exchange's support desk gets (taken from the knowledge base's question set), sometimes
ask for a human, sometimes post account details in public; in private chats they answer the
bot's "Did this solve it?" and the satisfaction survey, as real customers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from helpline.bots.catalog import Catalog, default_catalog

log = logging.getLogger(__name__)

NAMES = {
    "en": ["Alex Morgan", "Priya Shah", "Tom Becker", "Lena Fischer"],
    "ko": ["김민준", "이서연", "박지훈", "최유진"],
    "zh": ["王伟", "李娜", "张敏", "刘洋"],
    "ja": ["佐藤 陽菜", "鈴木 蓮", "高橋 結衣", "田中 湊"],
}
EXTRA = {
    "en": ["can I talk to a human agent please", "@support my withdrawal is stuck, my email is alex@example.com"],
    "ko": ["상담원 연결해 주세요", "출금이 안 돼요. 제 UID는 12345678 입니다"],
    "zh": ["我要人工客服", "提现一直没到账，我的订单号是 88231234"],
    "ja": ["オペレーターと話したいです", "出金が届きません。メールは taro@example.com です"],
}


@dataclass
class Customer:
    platform: str
    language: str
    user_id: str
    handle: str
    name: str
    private: bool
    seen: int = 0  # bot messages already read
    waiting: bool = False  # asked something, expects an answer


@dataclass
class Simulation:
    emulators: dict[str, str]  # platform -> emulator base URL
    questions: list[tuple[str, str]]  # (language, text)
    interval: float = 4.0
    seed: int = 7
    catalog: Catalog = field(default_factory=default_catalog)

    @classmethod
    def from_kb(cls, emulators: dict[str, str], questions_file: Path, interval: float) -> Simulation:
        rows = [json.loads(line) for line in questions_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        questions = [(row["language"], row["text"]) for row in rows if row.get("expected")]
        return cls(emulators, questions, interval)

    def customers(self) -> list[Customer]:
        rng = random.Random(self.seed)
        out = []
        for i, (language, names) in enumerate(NAMES.items()):
            for j, name in enumerate(names):
                platform = list(self.emulators)[(i + j) % len(self.emulators)]
                uid = str(500_000 + i * 100 + j)
                out.append(Customer(platform, language, uid, f"{language}_user{j}", name, private=rng.random() < 0.6))
        return out

    async def run(self, stop: asyncio.Event) -> None:
        rng = random.Random(self.seed)
        people = self.customers()
        async with httpx.AsyncClient(timeout=10) as http:
            while not stop.is_set():
                try:
                    await self._tick(http, rng, people)
                except httpx.HTTPError as exc:
                    log.warning("simulated customers: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.interval * rng.uniform(0.5, 1.5))

    async def _tick(self, http: httpx.AsyncClient, rng: random.Random, people: list[Customer]) -> None:
        for person in people:  # private customers answer what the bot asked them
            if person.private and person.waiting:
                answer = await self._answer_to_bot(http, person, rng)
                if answer:
                    await self._write(http, person, answer)
                    return
        idle = [p for p in people if not p.waiting] or people
        person = rng.choice(idle)
        pool = [text for lang, text in self.questions if lang == person.language]
        text = rng.choice(EXTRA[person.language]) if rng.random() < 0.15 else rng.choice(pool)
        await self._write(http, person, text)

    async def _answer_to_bot(self, http: httpx.AsyncClient, person: Customer, rng: random.Random) -> str | None:
        received = await self._received(http, person)
        if len(received) <= person.seen:
            return None
        latest = received[-1]
        person.seen = len(received)
        if self.catalog.text(person.language, "survey_ask")[:12] in latest:
            person.waiting = False
            return str(rng.choice([3, 4, 5, 5, 5]))
        if self.catalog.text(person.language, "ask_feedback") in latest:
            return "yes" if rng.random() < 0.75 else "no"
        person.waiting = False
        return None

    async def _write(self, http: httpx.AsyncClient, person: Customer, text: str) -> None:
        base = self.emulators[person.platform]
        user = {"id": person.user_id, "handle": person.handle, "name": person.name}
        if person.platform == "telegram":
            body = {"user": user, "text": text, "kind": "direct" if person.private else "group", "mention": True}
        else:
            body = {"user": user, "text": text, "kind": "direct" if person.private else "mention"}
        response = await http.post(f"{base}/_emulator/customer-messages", json=body)
        response.raise_for_status()
        person.waiting = True

    async def _received(self, http: httpx.AsyncClient, person: Customer) -> list[str]:
        """What our account sent this customer privately, oldest first."""
        sent = (await http.get(f"{self.emulators[person.platform]}/_emulator/sent")).json()["messages"]
        if person.platform == "telegram":
            return [m["text"] for m in sent if str(m.get("chat_id")) == person.user_id]
        if person.platform == "x":
            return [m["text"] for m in sent if m.get("recipient_id") == person.user_id]
        return [m["text"] for m in sent if m.get("visibility") == "direct" and f"@{person.handle}" in m["text"]]
