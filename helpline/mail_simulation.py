"""Simulated e-mail customers for `helpline demo`: they write to the support mailbox in English,
Korean, Japanese and Chinese (each in the charset its mail clients use), and answer what arrives
in their own mailboxes, keeping the threading headers as their clients would.

They talk to real servers: their mail is delivered into the support mailbox on the demo's
Dovecot, and Helpline's answers reach their mailboxes through the demo's SMTP relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from helpline.bots.catalog import Catalog, default_catalog
from helpline.connectors.email.mailservers import Dovecot
from helpline.connectors.email.parse import format_address, parse_mail

log = logging.getLogger(__name__)

#: How each language's customers' clients encode mail (what real mail in the language looks like).
CHARSETS = {"en": "utf-8", "ko": "euc-kr", "ja": "iso-2022-jp", "zh": "gb2312"}
PEOPLE = [
    ("en", "alex", "Alex Morgan"),
    ("en", "priya", "Priya Shah"),
    ("ko", "minjun", "김민준"),
    ("ko", "seoyeon", "이서연"),
    ("ja", "hina", "佐藤 陽菜"),
    ("ja", "ren", "鈴木 蓮"),
    ("zh", "wei", "王伟"),
    ("zh", "na", "李娜"),
]
SUBJECTS = {"en": "Help with my account", "ko": "계정 문의", "ja": "アカウントについて", "zh": "账户问题"}
THANKS = {"en": "Thank you!", "ko": "감사합니다!", "ja": "ありがとうございます。", "zh": "谢谢！"}


@dataclass
class MailCustomer:
    language: str
    user: str  # their mailbox on the demo's Dovecot
    name: str
    domain: str = "customers.example"
    read: int = 0  # mails in their inbox already answered

    @property
    def address(self) -> str:
        return f"{self.user}@{self.domain}"


@dataclass
class MailSimulation:
    dovecot: Dovecot
    support_user: str
    support_address: str
    questions: list[tuple[str, str]]  # (language, text)
    interval: float = 6.0
    seed: int = 11
    catalog: Catalog = field(default_factory=default_catalog)
    customers: list[MailCustomer] = field(default_factory=lambda: [MailCustomer(*p) for p in PEOPLE])

    async def run(self, stop: asyncio.Event) -> None:
        rng = random.Random(self.seed)
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.tick, rng)
            except OSError as exc:  # the mail server restarting: try again next tick
                log.warning("simulated mail customers: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval * rng.uniform(0.5, 1.5))

    def tick(self, rng: random.Random) -> None:
        """One customer acts: answers new mail in their inbox, or writes a new question."""
        for person in rng.sample(self.customers, len(self.customers)):
            inbox = self.dovecot.mails(person.user)
            if len(inbox) > person.read:
                latest = inbox[-1]
                person.read = len(inbox)
                answer = self.answer_to(person, latest, rng)
                if answer is not None:
                    self.deliver(self.reply(person, latest, answer, rng))
                return
        person = rng.choice(self.customers)
        pool = [text for language, text in self.questions if language == person.language]
        if pool:
            self.deliver(self.write(person, SUBJECTS[person.language], rng.choice(pool)))

    def answer_to(self, person: MailCustomer, raw: bytes, rng: random.Random) -> str | None:
        text = parse_mail(raw).text
        if self.catalog.text(person.language, "survey_ask")[:12] in text:
            return None  # the survey is answered by its links, on Helpline's rating page
        if self.catalog.text(person.language, "ask_feedback") in text:
            return "yes" if rng.random() < 0.7 else "no"
        return THANKS[person.language] if rng.random() < 0.5 else None

    def write(self, person: MailCustomer, subject: str, text: str, **headers: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = format_address(person.address, person.name)
        msg["To"] = self.support_address
        msg["Subject"] = subject
        msg["Date"] = format_datetime(datetime.now().astimezone())
        msg["Message-ID"] = make_msgid(domain=person.domain)
        for name, value in headers.items():
            msg[name] = value
        msg.set_content(text, charset=CHARSETS[person.language])
        return msg

    def reply(self, person: MailCustomer, raw: bytes, text: str, rng: random.Random) -> EmailMessage:
        """An answer as mail clients send it; some drop References, some keep only the subject."""
        original = parse_mail(raw)
        quoted = "\n".join(f"> {line}" for line in original.text.splitlines()[:6])
        body = f"{text}\n\n{original.from_name or original.from_address} wrote:\n{quoted}"
        headers: dict[str, str] = {}
        style = rng.random()
        if style < 0.6:
            headers = {
                "In-Reply-To": f"<{original.message_id}>",
                "References": " ".join(f"<{r}>" for r in (*original.references, original.message_id)),
            }
        elif style < 0.85:
            headers = {"In-Reply-To": f"<{original.message_id}>"}  # a client that keeps only In-Reply-To
        subject = original.subject if original.subject.lower().startswith("re:") else f"Re: {original.subject}"
        return self.write(person, subject, body, **headers)

    def deliver(self, msg: EmailMessage) -> None:
        self.dovecot.append(self.support_user, msg.as_bytes(policy=policy.SMTP))
