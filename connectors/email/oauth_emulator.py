"""An OAuth 2.0 provider on loopback for the tests and the demo: the token endpoint (RFC 6749
section 6, refresh-token grant, client authentication in the form or by HTTP Basic) and token
introspection (RFC 7662), which Dovecot's oauth2 passdb and the test SMTP relay ask to decide an
OAUTHBEARER or XOAUTH2 login. Access tokens expire after `lifetime_seconds`; with `rotate`, every
answer carries a new refresh token and the old one stops working (Microsoft's way). Not part of a
production install.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class OAuthProvider:
    clients: dict[str, str]  # client id -> client secret
    refresh_tokens: dict[str, str]  # refresh token -> the mailbox user it was granted for
    lifetime_seconds: float = 3600.0
    rotate: bool = False
    access_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (user, expiry)
    grants: int = 0  # access tokens issued
    introspections: int = 0

    def revoke(self, token: str) -> None:
        self.access_tokens.pop(token, None)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/introspect", self._introspect, methods=["POST"]),
            ]
        )

    async def _token(self, request: Request) -> JSONResponse:
        form = await request.form()
        client_id, client_secret = str(form.get("client_id") or ""), str(form.get("client_secret") or "")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            decoded = base64.b64decode(basic[6:]).decode()
            client_id, _, client_secret = (unquote(part) for part in decoded.partition(":"))
        if self.clients.get(client_id) != client_secret or not client_id:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        user = self.refresh_tokens.get(str(form.get("refresh_token") or ""))
        if user is None:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "unknown or expired refresh token"}, status_code=400
            )
        token = "at-" + secrets.token_urlsafe(24)
        self.access_tokens[token] = (user, time.time() + self.lifetime_seconds)
        self.grants += 1
        answer: dict[str, object] = {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime_seconds}
        if self.rotate:
            del self.refresh_tokens[str(form["refresh_token"])]
            fresh = "rt-" + secrets.token_urlsafe(24)
            self.refresh_tokens[fresh] = user
            answer["refresh_token"] = fresh
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    async def _introspect(self, request: Request) -> JSONResponse:
        self.introspections += 1
        token = str((await request.form()).get("token") or "")
        found = self.access_tokens.get(token)
        if found is None or found[1] <= time.time():
            return JSONResponse({"active": False})
        return JSONResponse({"active": True, "username": found[0], "exp": int(found[1]), "token_type": "Bearer"})
