from __future__ import annotations

from helpline.routing.decode import as_text


def test_redis_values_read_as_text() -> None:
    assert as_text(b"caf\xc3\xa9") == "café"
    assert as_text("already text") == "already text"
    assert as_text(None) == ""
    assert as_text(42) == "42"
