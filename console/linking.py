"""Finding the contact to link from a conversation's side panel: the same person writing on
another channel. Only contacts of recent conversations the viewer may see are found, so a
search never reveals a customer of another team; the link itself goes through the API's checks
(console/api/contacts.py).

Contacts whose conversations have left Redis are found in the record (`archive.reader
.find_contacts`: a prefix of a handle, a name or a word of it, an e-mail address, a platform id),
after those found in Redis; a contact in both is shown from Redis (the fresher copy). If the
record cannot be read, the Redis matches are shown and the log says so."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from helpline.archive import reader
from helpline.archive.contact_terms import fold, query_term, terms
from helpline.routing.models import Contact

from .archived import UNAVAILABLE, access_of
from .queries import recent_scored
from .roles import Principal, can_view
from .services import Services

SEARCH_SCAN = 2000  # recent conversations whose contacts are searched
MATCHES = 10
RECORD_TIMEOUT_S = 2.0  # the record's answer; past it the Redis matches are shown
log = logging.getLogger(__name__)


def matches(contact: Contact, query: str) -> bool:
    """Pure: the query is the contact's id, or (case-insensitive, an @ optional) is in its name,
    handle or e-mail address or begins one of the terms the record finds it by (its platform id, ...)."""
    q = query_term(query)
    if not q:
        return False
    if contact.id == query.strip():
        return True
    texts = (fold(contact.display_name), fold(contact.handle).removeprefix("@"), fold(contact.email or ""))
    return any(q in text for text in texts) or any(t.startswith(q) for t in terms(contact.model_dump()))


async def search(
    svc: Services, who: Principal, query: str, exclude: Sequence[str], scan: int = SEARCH_SCAN
) -> list[Contact]:
    """Contacts matching `query`: those of the viewer's visible recent conversations in Redis,
    newest first, then those of the record, other than `exclude` (the contact and those already
    linked to it)."""
    found = await _recent(svc, who, query, exclude, scan)
    if len(found) >= MATCHES:
        return found
    try:
        async with asyncio.timeout(RECORD_TIMEOUT_S):
            rows = await reader.find_contacts(
                svc.record, query, access_of(who), MATCHES, exclude=[*exclude, *(c.id for c in found)]
            )
    except (*UNAVAILABLE, TimeoutError) as exc:
        log.warning(
            "contact search: the record is unavailable (%s); showing the contacts found in Redis",
            type(exc).__name__,
        )
        return found
    for row in rows:
        hot = await svc.store.contact(row["id"])
        if hot is not None and not matches(hot, query):
            continue  # changed since the record took it: Redis is right
        found.append(hot or Contact.model_validate({k: v for k, v in row.items() if v is not None}))
        if len(found) == MATCHES:
            break
    return found


async def _recent(svc: Services, who: Principal, query: str, exclude: Sequence[str], scan: int) -> list[Contact]:
    """Matches among the contacts of the viewer's visible recent conversations, newest first."""
    recent = await recent_scored(svc, scan, None)
    convs = await svc.store.get_many([cid for cid, _ in recent])
    skip = set(exclude)
    found: list[Contact] = []
    for contact_id in dict.fromkeys(c.contact_id for c in convs if can_view(who, c) and c.contact_id not in skip):
        contact = await svc.store.contact(contact_id)
        if contact is not None and matches(contact, query):
            found.append(contact)
            if len(found) == MATCHES:
                break
    return found
