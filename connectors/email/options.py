"""The options of an e-mail account (`[[accounts]] options`), checked when the account is built."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from helpline.connectors.files import FileOptions
from helpline.connectors.options import ConnectorOptions

_ADDRESS = r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$"


class EmailOptions(ConnectorOptions, FileOptions):  # FileOptions: attachments_dir, size and type limits
    address: str = Field(pattern=_ADDRESS)  # the support address customers write to
    display_name: str = Field(default="", max_length=200)  # shown as the sender of answers
    imap_host: str = Field(min_length=1)
    imap_port: int = Field(default=993, ge=1, le=65535)
    imap_security: Literal["tls", "starttls", "none"] = "tls"  # "none" only for a server on this machine
    mailbox: str = "INBOX"
    move_to: str | None = None  # after a mail is durable, move it to this folder (left in place if unset)
    first_poll: Literal["new", "all"] = "new"  # on the very first poll: only mail arriving from now on, or all
    idle: bool = True  # IMAP IDLE when the server supports it, else polling every poll_interval
    idle_seconds: float = Field(default=10.0, gt=0, le=12)  # one IDLE wait (inside the poller's 15 s lease)
    batch_size: int = Field(default=50, ge=1, le=1000)  # mails fetched per poll
    smtp_host: str = Field(min_length=1)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    #: How IMAP and SMTP log in: "password" (secrets password / smtp_password, an app password for
    #: Gmail or Microsoft 365) or "oauth2" (SASL OAUTHBEARER or XOAUTH2 with access tokens from secrets
    #: oauth_refresh_token, oauth_client_id and optional oauth_client_secret at oauth_token_url).
    auth: Literal["password", "oauth2"] = "password"
    oauth_token_url: str | None = Field(default=None, max_length=2000)
    oauth_scope: str = Field(default="", max_length=2000)  # space-separated; Microsoft 365 needs it
    #: The SASL mechanism for the access token: "auto" (OAUTHBEARER, RFC 7628, where the server
    #: offers it, else XOAUTH2), or "oauthbearer" / "xoauth2" whatever the server lists.
    oauth_mechanism: Literal["auto", "oauthbearer", "xoauth2"] = "auto"
    #: A PEM file of certificate authorities trusted for IMAP and SMTP besides the system's (a
    #: server with a private CA or a self-signed certificate); names are still checked.
    ca_file: str | None = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    auto_replies_per_hour: int = Field(default=3, ge=0, le=1000)  # automatic mails to one address per hour
    sends_per_minute: int = Field(default=60, ge=1, le=100_000)  # the SMTP server's budget for this account
    thread_memory_days: int = Field(default=180, ge=1, le=3650)  # how long Message-IDs are matched

    @model_validator(mode="after")
    def _oauth_endpoint(self) -> EmailOptions:
        if self.auth != "oauth2":
            return self
        if not self.oauth_token_url:
            raise ValueError('oauth_token_url is required with auth = "oauth2" (the provider\'s token endpoint)')
        url = urlsplit(self.oauth_token_url)
        if url.scheme != "https" and not (url.scheme == "http" and url.hostname in ("127.0.0.1", "localhost", "::1")):
            raise ValueError("oauth_token_url must be https:// (http:// only on this machine)")
        return self
