"""Errors every connector maps its platform's failures to.

    ConnectorError
     ├── RateLimited(retry_after)  the platform said "slow down"; retry after `retry_after` seconds
     ├── AuthFailed                credentials missing, wrong or revoked; retrying will not help
     ├── Transient                 network trouble or a 5xx; safe to retry later
     │    └── Uncertain            the request left but no answer came (a read timeout): the
     │                             platform may have acted on it, so a post is not blindly retried
     └── Permanent                 the platform refused this request (bad chat, deleted tweet...)

These classes are defined in `routing.errors` (the sender, below the connectors, reads them) and
are the same objects here. Clients never sleep: they raise, and the caller schedules the retry.

`UnusableUpdate` is not a platform failure: an update (webhook call or polled item) that was
received but cannot be turned into a message. It is acknowledged and dead-lettered, never
answered 5xx, which would make the platform redeliver it forever.
"""

from __future__ import annotations

import json
from typing import Any

from redis.exceptions import RedisError

from helpline.routing.errors import AuthFailed as AuthFailed
from helpline.routing.errors import ConnectorError as ConnectorError
from helpline.routing.errors import Permanent as Permanent
from helpline.routing.errors import RateLimited as RateLimited
from helpline.routing.errors import Transient as Transient
from helpline.routing.errors import Uncertain as Uncertain


class ConfigError(ValueError):
    """A setting is wrong; the message names the field."""


class UnusableUpdate(Exception):
    """A received update that cannot be used (wrong types, out-of-range values, too deep)."""


#: What a webhook answers 5xx for: the update could not be stored, so the platform must retry.
#: Anything else raised while reading an update makes it unusable.
def storage_failure(exc: BaseException) -> bool:
    return isinstance(exc, RedisError | OSError | ConnectorError)


def decode_update(body: bytes) -> dict[str, Any]:
    """The JSON object a webhook body holds, or UnusableUpdate saying why not."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise UnusableUpdate(f"body is not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise UnusableUpdate("body is not a JSON object")
    return data
