"""Errors a connector raises when a platform call fails, read by the sender (and by the poll
runner and the publisher above it). They are defined here, below the connectors, because they
are the sender's side of the contract every connector implements; `connectors.errors` exports
the same classes.

    ConnectorError
     ├── RateLimited(retry_after)  the platform said "slow down"; retry after `retry_after` seconds
     ├── AuthFailed                credentials missing, wrong or revoked; retrying will not help
     ├── Transient                 network trouble or a 5xx; safe to retry later
     │    └── Uncertain            the request left but no answer came (a read timeout): the
     │                             platform may have acted on it, so a post is not blindly retried
     └── Permanent                 the platform refused this request (bad chat, deleted tweet...)

Clients never sleep: they raise, and the caller schedules the retry.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class of every connector error."""


class RateLimited(ConnectorError):
    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(f"{message} (retry after {retry_after:.1f}s)")
        self.retry_after = max(0.0, retry_after)


class AuthFailed(ConnectorError):
    pass


class Transient(ConnectorError):
    pass


class Uncertain(Transient):
    pass


class Permanent(ConnectorError):
    pass
