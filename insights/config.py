"""Where insights finds its configuration: the `[insights]` and `[[sla]]` sections of Settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .settings import InsightsSettings, SlaPolicy

if TYPE_CHECKING:
    from helpline.config import Settings


def insights_settings(settings: Settings) -> InsightsSettings:
    return settings.insights


def sla_policies(settings: Settings) -> list[SlaPolicy]:
    return list(settings.sla)
