"""Where insights finds its configuration on `helpline.config.Settings` (the lead adds the
`insights: InsightsSettings` and `sla: list[SlaPolicy]` fields; until then the defaults apply)."""

from __future__ import annotations

from typing import Any

from .settings import InsightsSettings, SlaPolicy


def insights_settings(settings: Any) -> InsightsSettings:
    value = getattr(settings, "insights", None)
    return value if isinstance(value, InsightsSettings) else InsightsSettings()


def sla_policies(settings: Any) -> list[SlaPolicy]:
    value = getattr(settings, "sla", None) or []
    return [p for p in value if isinstance(p, SlaPolicy)]
