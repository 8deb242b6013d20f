"""Who a visitor is: an anonymous visitor token, or a user the site vouches for. Pure.

A token is 32 random bytes the widget keeps in the site's local storage; Helpline stores only its
hash. A chat is reached by the token that owns it, never by its id alone. A verified user is the
site's `user_id` with `HMAC-SHA256(secret, user_id)` (hex), computed by the site's server.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_USER_ID = re.compile(r"^[A-Za-z0-9_.@:-]{1,128}$")


class IdentityRefused(Exception):
    """The identity is missing (enforce mode) or its HMAC does not check out."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str | None:
    """The stored form of a token; None for something that is not a token."""
    if not _TOKEN.match(token):
        return None
    return hashlib.sha256(token.encode()).hexdigest()


def new_chat_id() -> str:
    return secrets.token_urlsafe(16)


def user_hmac(secret: str, user_id: str) -> str:
    """What the site's server computes for `user_id` (and what tests and the demo page use)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verified_visitor(mode: str, secret: str | None, user_id: str | None, signature: str | None, anonymous: str) -> str:
    """The visitor id: "user:<id>" when the site's HMAC checks out (constant time), `anonymous`
    when no identity was given and the mode allows it. Raises IdentityRefused otherwise."""
    if not user_id and not signature:
        if mode == "enforce":
            raise IdentityRefused("this chat needs a verified identity (user_id and user_hash)")
        return anonymous
    if mode == "off" or secret is None:
        return anonymous  # identities are not used on this account
    if not user_id or not signature or not _USER_ID.match(user_id):
        raise IdentityRefused("user_id and user_hash must both be given")
    if not hmac.compare_digest(user_hmac(secret, user_id), signature.lower()):
        raise IdentityRefused("the identity could not be verified (user_hash does not match user_id)")
    return f"user:{user_id}"
