"""Finding the contact to link from a conversation's side panel: the same person writing on
another channel. Only contacts of recent conversations the viewer may see are found, so a
search never reveals a customer of another team; the link itself goes through the API's checks
(console/api/contacts.py)."""

from __future__ import annotations

from collections.abc import Sequence

from helpline.routing.models import Contact

from .queries import recent_scored
from .roles import Principal, can_view
from .services import Services

SEARCH_SCAN = 2000  # recent conversations whose contacts are searched
MATCHES = 10


def matches(contact: Contact, query: str) -> bool:
    """Pure: the query (case-insensitive, an @ optional) is in the contact's name or handle, or is its id."""
    q = query.strip().casefold().removeprefix("@")
    return bool(q) and (
        contact.id.casefold() == q
        or q in contact.display_name.casefold()
        or q in contact.handle.casefold().removeprefix("@")
    )


async def search(
    svc: Services, who: Principal, query: str, exclude: Sequence[str], scan: int = SEARCH_SCAN
) -> list[Contact]:
    """Contacts matching `query` among those of the viewer's visible recent conversations, newest
    first, other than `exclude` (the contact and those already linked to it)."""
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
