"""What X allows: weighted 280 per post (URLs 23, CJK and emoji 2), long replies as a numbered
reply thread, 10,000 characters per DM, no buttons; announcements go to the account's timeline."""

from __future__ import annotations

from helpline.connectors.capabilities import Capabilities, TextRules
from helpline.connectors.publishing import Destination

from .text import MAX_DM, MAX_TWEET, find_urls, split_plain, split_thread, weighted_length

CAPABILITIES = Capabilities(
    public=TextRules(
        limit=MAX_TWEET,
        measure=weighted_length,
        split=split_thread,
        counting="weighted: a link counts 23, CJK and emoji 2",
        find_links=find_urls,
        numbering_room=len("99/99 "),
    ),
    direct=TextRules(limit=MAX_DM, measure=len, split=split_plain, find_links=find_urls),
    threads=True,
    buttons=False,
    announcements=frozenset({Destination.TIMELINE}),
)
