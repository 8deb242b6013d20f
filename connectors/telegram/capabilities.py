"""What Telegram allows: 4096 UTF-16 units per message (an emoji outside the BMP counts 2), longer
text as several messages, inline buttons, a photo with a reply; announcements go to channels, groups and subscribers,
posted as escaped HTML so marketing copy is shown, never parsed."""

from __future__ import annotations

from helpline.connectors.capabilities import Capabilities, TextRules
from helpline.connectors.publishing import Destination

from .text import MAX_MESSAGE_LENGTH, escape_html, split_text, utf16_len

_TEXT = TextRules(
    limit=MAX_MESSAGE_LENGTH,
    measure=utf16_len,
    split=split_text,
    counting="UTF-16 units",
    parse_mode="HTML",
    escape=escape_html,
)

CAPABILITIES = Capabilities(
    public=_TEXT,
    direct=_TEXT,
    threads=False,
    buttons=True,
    announcements=frozenset({Destination.CHAT, Destination.SUBSCRIBER}),
    reply_files=frozenset({"image/jpeg", "image/png", "image/webp"}),  # sent as a photo (sendPhoto)
)
