"""Telegram failures mapped to `connectors.errors`.

    telegram.error.RetryAfter     -> RateLimited(retry_after)
    telegram.error.InvalidToken   -> AuthFailed   (401/404 on the token: the account is unusable)
    telegram.error.Forbidden      -> Permanent    (see below)
    telegram.error.BadRequest     -> Permanent    (chat not found, message too long, ...)
    telegram.error.ChatMigrated   -> Permanent    (send() handles it before it gets here)
    telegram.error.Conflict       -> Transient    (another getUpdates, or a webhook is set)
    telegram.error.TimedOut       -> Uncertain    (it may have been delivered: not blindly re-sent)
    telegram.error.NetworkError   -> Transient
    other TelegramError           -> Transient    (e.g. an unreadable response)

Forbidden is Permanent, not AuthFailed: Telegram answers 403 when *one chat* refuses the bot
("bot was blocked by the user", "bot was kicked from the group chat", "user is deactivated").
The token is fine and every other chat still works, so failing the whole account would be wrong;
the reply to that chat cannot succeed by retrying. A bad token is 401 (InvalidToken).
"""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import error as tg
from telegram.warnings import PTBDeprecationWarning

from helpline.connectors.errors import AuthFailed, ConnectorError, Permanent, RateLimited, Transient, Uncertain

# PTB 22 itself reads `RetryAfter.retry_after` when building the exception and warns that the
# attribute will become a timedelta: one warning per 429 is noise; both forms are handled below.
warnings.filterwarnings("ignore", message=r".*`retry_after` will be of type", category=PTBDeprecationWarning)


def retry_after_seconds(exc: tg.RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def redact(text: str, token: str) -> str:
    """PTB puts the token in some messages (InvalidToken on initialize); never pass it on."""
    return text.replace(token, "<token>") if token else text


def map_error(exc: tg.TelegramError, *, token: str, field: str) -> ConnectorError:
    """The connector error for a PTB exception; `field` names the setting to check on auth errors."""
    message = redact(exc.message, token)
    if isinstance(exc, tg.RetryAfter):
        return RateLimited(retry_after_seconds(exc), "telegram: flood control")
    if isinstance(exc, tg.InvalidToken):
        return AuthFailed(f"telegram rejected the bot token ({field}): {message}")
    if isinstance(exc, (tg.Forbidden, tg.BadRequest, tg.ChatMigrated, tg.EndPointNotFound)):
        return Permanent(f"telegram: {message}")
    if isinstance(exc, tg.TimedOut):  # PTB does not say whether the request reached Telegram
        return Uncertain(f"telegram: {message}")
    return Transient(f"telegram: {message}")
