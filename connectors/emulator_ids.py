"""Ids for the platform emulators, numbered from the clock.

The platforms' ids grow with time (X and Mastodon ids are snowflakes: milliseconds in the high
bits), and Helpline's cursors rely on it: a poll asks for what came after the newest id it saw. An
emulator counting from a constant started over below the cursors of its previous run whenever it
was restarted (the demo), and every later message was invisible. Clock ids continue above
whatever the emulator handed out before, as long as the clock did not go back.
"""

from __future__ import annotations

import time


class ClockIds:
    """Increasing ids: `(now_ms - epoch_ms) * per_ms`, or one more than the last when that is not
    higher (several in one tick)."""

    def __init__(self, per_ms: float, epoch_ms: int = 0) -> None:
        self.per_ms = per_ms
        self.epoch_ms = epoch_ms
        self.last = 0

    def next(self) -> int:
        self.last = max(self.last + 1, int((time.time() * 1000 - self.epoch_ms) * self.per_ms))
        return self.last


#: X snowflakes: milliseconds since X's epoch, shifted 22 bits.
def x_ids() -> ClockIds:
    return ClockIds(per_ms=2**22, epoch_ms=1_288_834_974_657)


#: Mastodon ids: milliseconds since 1970, shifted 16 bits.
def mastodon_ids() -> ClockIds:
    return ClockIds(per_ms=2**16)


#: Telegram update and message ids are 32-bit: tenths of seconds since late 2023 (fits until 2030).
def telegram_ids() -> ClockIds:
    return ClockIds(per_ms=0.01, epoch_ms=1_700_000_000_000)
