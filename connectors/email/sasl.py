"""The SASL mechanisms that log in with an OAuth 2.0 access token, for IMAP and SMTP alike:
OAUTHBEARER (RFC 7628, the standard) and XOAUTH2 (Google's and Microsoft's older one).

`options.oauth_mechanism = "auto"` takes OAUTHBEARER where the server offers it and XOAUTH2
otherwise (Microsoft 365 offers only XOAUTH2; Gmail both); naming one uses it whatever the server
lists. Pure functions: the protocols send what these build.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Literal

Mechanism = Literal["OAUTHBEARER", "XOAUTH2"]


def choose(setting: str, offered: Iterable[str]) -> Mechanism:
    """The mechanism to log in with: the configured one, or for "auto" OAUTHBEARER when the
    server's list (IMAP `AUTH=` capabilities or SMTP's EHLO `AUTH` names) has it."""
    if setting == "oauthbearer":
        return "OAUTHBEARER"
    if setting == "xoauth2":
        return "XOAUTH2"
    names = {name.upper().removeprefix("AUTH=") for name in offered}
    return "OAUTHBEARER" if "OAUTHBEARER" in names else "XOAUTH2"


def initial_response(mechanism: Mechanism, user: str, token: str, host: str, port: int) -> str:
    """The client's first message, base64 as both protocols send it."""
    if mechanism == "OAUTHBEARER":  # RFC 7628 section 3.1: a GS2 header, then key=value pairs
        blob = f"n,a={_saslname(user)},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"
    else:
        blob = f"user={user}\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(blob.encode()).decode("ascii")


def after_error(mechanism: str) -> str:
    """What answers the server's error challenge (a base64 JSON status) so that it ends the
    exchange with a refusal: OAUTHBEARER a single ^A (RFC 7628 section 3.2.3), XOAUTH2 nothing."""
    return base64.b64encode(b"\x01").decode("ascii") if mechanism.upper() == "OAUTHBEARER" else ""


def _saslname(user: str) -> str:
    """RFC 5801's saslname: "," and "=" escaped."""
    return user.replace("=", "=3D").replace(",", "=2C")
