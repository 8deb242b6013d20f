"""Account Activity API webhook security: the CRC challenge and the payload signature.

X proves a webhook is ours with a GET `?crc_token=...` answered by
`{"response_token": "sha256=" + base64(HMAC-SHA256(consumer_secret, crc_token))}`, and signs
every POST with `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256 of the raw body>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "x-twitter-webhooks-signature"


def sign(consumer_secret: str, data: bytes) -> str:
    """`sha256=<base64 HMAC-SHA256>` of `data`: the CRC response token and the POST signature."""
    digest = hmac.new(consumer_secret.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def crc_response(consumer_secret: str, crc_token: str) -> dict[str, str]:
    return {"response_token": sign(consumer_secret, crc_token.encode())}


def verify(consumer_secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is X's signature of `body`. Constant time."""
    if not header:
        return False
    return hmac.compare_digest(sign(consumer_secret, body).encode(), header.strip().encode())
