"""Account Activity API webhook security: the CRC challenge and the payload signature.

X proves a webhook is ours with a GET `?crc_token=...` answered by
`{"response_token": "sha256=" + base64(HMAC-SHA256(consumer_secret, crc_token))}`, and signs
every POST with `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256 of the raw body>`.

Both use the same key, so a CRC answer is a signature of whatever text was asked. To keep the
challenge from being a signing oracle, the two inputs can never be equal: only tokens shaped like
X's (short, URL-safe base64/UUID alphabet) are answered, and only bodies that are JSON objects
(first byte `{`, outside that alphabet) are verified.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

SIGNATURE_HEADER = "x-twitter-webhooks-signature"

#: X's tokens are a few dozen base64 or UUID characters; `{` and whitespace can never occur.
_CRC_TOKEN = re.compile(r"[A-Za-z0-9_=+/-]{1,128}")
_JSON_WHITESPACE = b" \t\r\n"


def sign(consumer_secret: str, data: bytes) -> str:
    """`sha256=<base64 HMAC-SHA256>` of `data`: the CRC response token and the POST signature."""
    digest = hmac.new(consumer_secret.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def valid_crc_token(token: str) -> bool:
    """True for a token X could have sent (1-128 characters of A-Z a-z 0-9 _ = + / -)."""
    return _CRC_TOKEN.fullmatch(token) is not None


def crc_response(consumer_secret: str, crc_token: str) -> dict[str, str]:
    """The JSON answer to a CRC challenge. Refuses a token that is not shaped like X's."""
    if not valid_crc_token(crc_token):
        raise ValueError("crc_token must be 1-128 characters of A-Z a-z 0-9 _ = + / -")
    return {"response_token": sign(consumer_secret, crc_token.encode())}


_SIGNATURE = re.compile(r"sha256=[A-Za-z0-9+/]{43}=")


def well_formed_signature(header: str | None) -> bool:
    """True when `header` could be a signature at all: checked before the body is read."""
    return header is not None and _SIGNATURE.fullmatch(header.strip()) is not None


def verify(consumer_secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is X's signature of `body` and `body` is a JSON object. Constant time.

    The JSON-object check makes a body and an answerable CRC token disjoint sets, so no CRC
    answer ever validates a body."""
    if not header or not body.lstrip(_JSON_WHITESPACE).startswith(b"{"):
        return False
    return hmac.compare_digest(sign(consumer_secret, body).encode(), header.strip().encode())
