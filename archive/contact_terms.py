"""The words an archived contact is found by when an agent links a person's contacts: its handle,
its name (whole, and each word), its e-mail address and its platform user id, casefolded (its
contact id finds it too, whole: `reader.find_contacts`). A query finds the contacts with a term
that begins with it: a range of the `contact_terms` primary key, never a scan of the contacts.

The terms are rewritten from the stored contact rows whenever the archiver writes contacts, and
deleted with the contact (erasure), so they never say more than the contacts table.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from .database import one_of
from .schema import contact_terms, contacts

MAX_TERM = 256  # the column's length; a longer term is cut (a prefix of it still finds it)
_WORD = re.compile(r"\w+")
_SURROGATES = range(0xD800, 0xE000)


def fold(text: str) -> str:
    """Pure: the form terms and queries are compared in (NFKC, casefolded, spaces collapsed)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def query_term(query: str) -> str:
    """Pure: what a typed query is looked up as ("@Kim_S " → "kim_s"), "" for nothing to find."""
    return fold(query).removeprefix("@").strip()[:MAX_TERM]


def terms(contact: Mapping[Any, Any]) -> set[str]:
    """Pure: the terms of a contact row (`contacts` columns)."""
    out: set[str] = set()
    handle = fold(contact.get("handle") or "").removeprefix("@")
    name = fold(contact.get("display_name") or "")
    out.update((handle, name, fold(contact.get("email") or ""), fold(contact.get("user_id") or "")))
    out.update(name.split(" "))  # "Min-jun Kim": "min-jun", "kim"
    out.update(_WORD.findall(name))  # and "min", "jun"
    return {t[:MAX_TERM] for t in out if t}


def upper_bound(prefix: str) -> str | None:
    """Pure: the least string above every string that begins with `prefix` (in code point order,
    which is the binary order of UTF-8), None if there is none."""
    for cut in range(len(prefix), 0, -1):
        last = ord(prefix[cut - 1]) + 1
        if last in _SURROGATES:
            last = _SURROGATES.stop
        if last <= 0x10FFFF:
            return prefix[: cut - 1] + chr(last)
    return None


async def rewrite(conn: AsyncConnection, contact_ids: Sequence[str]) -> None:
    """Make the terms of these contacts those of their stored rows (a contact no longer stored
    keeps none), writing only what changed: a contact archived again unchanged costs two reads.
    Idempotent; a term another archiver's transaction wrote meanwhile is not written twice."""
    ids = sorted(set(contact_ids))
    if not ids:
        return
    c, t = contacts.c, contact_terms.c
    rows = await conn.execute(select(c.id, c.handle, c.display_name, c.email, c.user_id).where(one_of(conn, c.id, ids)))
    wanted = {(term, r.id) for r in rows for term in terms(r._mapping)}
    held = await conn.execute(select(t.term, t.contact_id).where(one_of(conn, t.contact_id, ids)))
    stored = {(r.term, r.contact_id) for r in held}
    stale = sorted(stored - wanted)
    if stale:
        await conn.execute(
            delete(contact_terms).where(t.term == bindparam("old_term"), t.contact_id == bindparam("old_contact")),
            [{"old_term": term, "old_contact": cid} for term, cid in stale],
        )
    new = sorted(wanted - stored)
    if not new:
        return
    if conn.dialect.name == "postgresql":  # one statement of two arrays, not a statement per row
        await conn.execute(
            text(
                "INSERT INTO contact_terms (term, contact_id) "
                "SELECT * FROM unnest(CAST(:terms AS text[]), CAST(:ids AS text[])) ON CONFLICT DO NOTHING"
            ),
            {"terms": [term for term, _ in new], "ids": [cid for _, cid in new]},
        )
    else:  # sqlite3's executemany: one prepared statement, a C loop
        await conn.exec_driver_sql("INSERT OR IGNORE INTO contact_terms (term, contact_id) VALUES (?, ?)", new)
