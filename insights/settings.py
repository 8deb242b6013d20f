"""SLA policies (`[[sla]]`) and insights settings (`[insights]`)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from helpline.routing.hours import TimeZoneName


class Target(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class SlaPolicy(BaseModel):
    """Targets for conversations of a team and/or carrying a label. The first matching policy in
    the configured list applies, so list specific policies (team + label) before general ones;
    a policy with neither team nor label matches everything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    team: str | None = None
    label: str | None = None
    first_response_minutes: float | None = Field(default=None, gt=0)
    next_response_minutes: float | None = Field(default=None, gt=0)
    resolution_minutes: float | None = Field(default=None, gt=0)
    business_hours: bool = False  # count only the team's open hours
    warn_at_percent: float = Field(default=80.0, gt=0, lt=100)

    @model_validator(mode="after")
    def _has_target(self) -> SlaPolicy:
        if not (self.first_response_minutes or self.next_response_minutes or self.resolution_minutes):
            raise ValueError(f"sla policy {self.name!r}: set at least one *_minutes target")
        return self

    def matches(self, team: str | None, labels: tuple[str, ...] | list[str]) -> bool:
        return (self.team is None or self.team == team) and (self.label is None or self.label in labels)

    def target_seconds(self, target: Target) -> float | None:
        minutes = {
            Target.FIRST_RESPONSE: self.first_response_minutes,
            Target.NEXT_RESPONSE: self.next_response_minutes,
            Target.RESOLUTION: self.resolution_minutes,
        }[target]
        return None if minutes is None else minutes * 60.0


def policy_for(
    policies: list[SlaPolicy] | tuple[SlaPolicy, ...], team: str | None, labels: tuple[str, ...] | list[str]
) -> SlaPolicy | None:
    return next((p for p in policies if p.matches(team, labels)), None)


class InsightsSettings(BaseModel):
    """`[insights]`: the reporting time zone fixes day buckets and the hour-of-day heatmap."""

    model_config = ConfigDict(extra="forbid")

    timezone: TimeZoneName = "UTC"
    scan_interval_seconds: float = Field(default=5.0, gt=0)
    sla_tick_seconds: float = Field(default=15.0, gt=0)
