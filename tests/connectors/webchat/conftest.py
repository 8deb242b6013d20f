from __future__ import annotations

import pytest

from .stack import SECRET


@pytest.fixture(autouse=True)
def identity_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HL_WEBCHAT_SECRET", SECRET)
    for name, value in {"HL_MAIL_USER": "support", "HL_MAIL_PASSWORD": "imap-secret"}.items():  # stack.mailing_desk
        monkeypatch.setenv(name, value)
