"""Redis replies as text. Clients run without `decode_responses` (payloads stay bytes on the hot
path), so the fields read back as text go through this one function."""

from __future__ import annotations

from typing import Any


def as_text(value: bytes | str | Any) -> str:
    """UTF-8 text of a Redis reply value; "" for a missing one (None)."""
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)
