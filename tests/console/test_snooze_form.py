"""The conversation page's snooze form: a local time in the viewer's zone, or hours from now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpline.console.errors import Invalid
from helpline.console.pages import snooze_until

NOW = datetime(2026, 12, 6, 0, 0, tzinfo=UTC)


def test_a_local_time_is_read_in_the_viewers_zone_and_hours_count_from_now() -> None:
    assert snooze_until("2026-12-07T09:30", "Asia/Seoul", "4", NOW) == datetime(2026, 12, 7, 0, 30, tzinfo=UTC)
    assert snooze_until("2026-12-07T09:30", "", "", NOW) == datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    assert snooze_until("", "Asia/Seoul", "4", NOW) == NOW + timedelta(hours=4)


@pytest.mark.parametrize(
    ("local", "zone", "hours", "error"),
    [
        ("2026-12-07T09:30", "Mars/Olympus", "", "tz: 'Mars/Olympus' is not a time zone"),
        ("2026-12-07T09:30", "../../etc/passwd", "", "is not a time zone"),
        ("next tuesday", "UTC", "", "until: expected a date and time"),
        ("", "UTC", "0", "snooze: choose how long"),
        ("", "UTC", "99999", "snooze: choose how long"),
        ("", "UTC", "", "snooze: choose how long"),
    ],
)
def test_bad_input_is_named(local: str, zone: str, hours: str, error: str) -> None:
    with pytest.raises(Invalid, match=error.replace("(", r"\(")):
        snooze_until(local, zone, hours, NOW)
