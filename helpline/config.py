"""Configuration: a TOML file plus `HELPLINE_*` environment overrides (pydantic-settings).

Nested settings are overridden with a double underscore: `HELPLINE_REDIS__URL=redis://...`.
Secrets never live in the file: accounts name the environment variables that hold them.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from helpline.announcements.settings import AnnouncementSettings
from helpline.bots.options import BotOptions, HelpCenterOptions, parse_bots
from helpline.connectors.base import AccountSettings
from helpline.connectors.files import FilesSettings
from helpline.insights.settings import InsightsSettings, SlaPolicy
from helpline.routing.hours import BusinessHours
from helpline.routing.models import Agent
from helpline.routing.rules import Rule

#: The error type of a repeated team id or account: the repeat is left out, and what the first
#: one holds is still checked (references into its collection too: they name the same things).
DUPLICATE = "duplicate"
#: The collections `check_settings` left broken elements out of, while it validates the rest.
_INCOMPLETE: ContextVar[frozenset[str]] = ContextVar("incomplete_sections", default=frozenset())


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RedisSettings(Section):
    url: str | None = None  # None: `helpline demo` starts its own redis-server
    partitions: int = Field(default=16, ge=1, le=1024)
    # A reply slower than this is an outage, not a wait (blocking stream reads wait up to 1 s).
    socket_timeout: float = Field(default=5.0, ge=2.0, le=300.0)
    connect_timeout: float = Field(default=3.0, gt=0, le=60.0)

    def client(self, url: str | None = None) -> redis.Redis:
        """A client with this section's timeouts, for `url` (default: this section's)."""
        target = url or self.url
        if not target:
            raise ValueError("redis.url is not set")
        client: redis.Redis = redis.Redis.from_url(
            target,
            socket_timeout=self.socket_timeout,
            socket_connect_timeout=self.connect_timeout,
            health_check_interval=30,
        )
        return client


class HealthSettings(Section):
    # A process that stops renewing its heartbeat leaves the shared view after this long.
    heartbeat_ttl_seconds: float = Field(default=15.0, ge=1.0, le=300.0)


class PipelineSettings(Section):
    batch_size: int = Field(default=500, ge=1, le=10_000)
    max_deliveries: int = Field(default=5, ge=1, le=100)
    # A crashed (or paused) worker's entries are taken over after this; a sender's hold on a
    # reply it posts lasts as long, so it must exceed the longest a sender batch can take.
    claim_idle_seconds: float = Field(default=30.0, gt=0)
    # A sender starts no post after this much of a batch (the rest waits for the next one) and
    # gives one post at most send_timeout_seconds (then it is "uncertain" where the platform
    # cannot dedupe).
    send_batch_seconds: float = Field(default=10.0, gt=0)
    send_timeout_seconds: float = Field(default=15.0, gt=0)
    # A router holds each of its partitions by a lease this long; a router silent for longer
    # loses them (and cannot commit any more), another takes them over.
    partition_lease_seconds: float = Field(default=10.0, ge=1, le=300)
    quiet_period_hours: float = Field(default=72.0, ge=0)  # a resolved thread reopens inside it
    dedupe_window_hours: float = Field(default=168.0, gt=0)

    @model_validator(mode="after")
    def _claims_outlast_batches(self) -> PipelineSettings:
        longest = self.send_batch_seconds + self.send_timeout_seconds
        if self.claim_idle_seconds <= longest:
            raise ValueError(
                f"claim_idle_seconds ({self.claim_idle_seconds:g}) must exceed send_batch_seconds + "
                f"send_timeout_seconds ({longest:g}), the longest a sender batch can take: otherwise a "
                f"second sender takes over replies the first is still posting"
            )
        return self


class DatabaseSettings(Section):
    """The SQL record (see README, "The record: Redis and SQL")."""

    url: str = "sqlite:///var/helpline/record.db"  # or postgresql://user@host/helpline
    batch_size: int = Field(default=1000, ge=1, le=10_000)  # change entries the archiver reads at once
    evict_interval_seconds: float = Field(default=60.0, gt=0)  # how often archived, quiet conversations leave Redis
    #: Archiver processes the archiver role runs, each owning the partitions p with p % archivers ==
    #: its number. Default: 2 on PostgreSQL (a Python process uses one core), 1 on SQLite (one
    #: writer at a time: more would only wait for each other).
    archivers: int | None = Field(default=None, ge=1, le=64)

    @field_validator("url")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        from helpline.archive.database import parse_url
        from helpline.archive.errors import RecordConfigError

        try:
            parse_url(value, field="url")
        except RecordConfigError as exc:
            raise ValueError(str(exc).removeprefix("url: ")) from None
        return value

    @model_validator(mode="after")
    def _one_sqlite_writer(self) -> DatabaseSettings:
        if self.archivers is not None and self.archivers > 1 and self.url.startswith("sqlite"):
            raise ValueError(
                f"archivers ({self.archivers}): SQLite takes one writer at a time, so one archiver process "
                "(PostgreSQL takes several)"
            )
        return self

    @property
    def archiver_processes(self) -> int:
        """`archivers`, or its default for the engine."""
        if self.archivers is not None:
            return self.archivers
        return 1 if self.url.startswith("sqlite") else 2


class RetentionSettings(Section):
    """Days each kind of record is kept; 0 keeps it for ever. A daily job deletes what is older."""

    conversations_days: float = Field(default=0, ge=0)  # resolved conversations, their messages, events, replies
    delivery_records_days: float = Field(default=30, ge=0)  # reply delivery records (SQL) and announcements'
    dead_letters_days: float = Field(default=30, ge=0)
    insights_detail_days: float = Field(default=400, ge=0)  # per-day report counters in Redis


class ConsoleSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str | None = None  # where platforms reach our webhooks (https://...)


class PortalSettings(Section):
    """The public help center at /help, served by the console from a help-center bot's KB."""

    enabled: bool = True  # served when the bot below is configured
    bot: str = "helpcenter"  # the [bots.<name>] (type helpcenter) whose articles and search it uses
    #: Where visitors reach it (https://help.example.com); defaults to console.public_url. When
    #: known, every article's canonical `url` (what the bot links to) is its page here.
    public_url: str | None = Field(default=None, pattern=r"^https?://")


class LanguageSettings(Section):
    supported: tuple[str, ...] = ("en", "ko", "zh", "ja")
    default: str = "en"


class SurveySettings(Section):
    enabled: bool = True  # ask for a 1-5 rating in the channel when a conversation is resolved


class TeamSettings(Section):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str = ""
    default: bool = False
    hours: BusinessHours = Field(default_factory=lambda: BusinessHours(always_open=True))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HELPLINE_", env_nested_delimiter="__", extra="forbid")

    redis: RedisSettings = Field(default_factory=RedisSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    languages: LanguageSettings = Field(default_factory=LanguageSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    teams: list[TeamSettings] = Field(default_factory=list)
    agents: list[Agent] = Field(default_factory=list)
    accounts: list[AccountSettings] = Field(default_factory=list)
    files: FilesSettings = Field(default_factory=FilesSettings)
    rules: list[Rule] = Field(default_factory=list)
    survey: SurveySettings = Field(default_factory=SurveySettings)
    #: Typed per bot type (bots.options); dumped with each type's own fields.
    bots: dict[str, SerializeAsAny[BotOptions]] = Field(default_factory=dict)
    insights: InsightsSettings = Field(default_factory=InsightsSettings)
    announcements: AnnouncementSettings = Field(default_factory=AnnouncementSettings)
    sla: list[SlaPolicy] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)  # the file's values come in as init values (`load_settings`)

    @field_validator("bots", mode="before")
    @classmethod
    def _typed_bots(cls, value: Any) -> Any:
        return parse_bots(value) if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        """Checks across sections, every failing one named. A section whose elements were left out
        (`check_settings` goes on past broken ones) is not a list of what exists: references into
        it are not judged. A repeat left out leaves the list of what exists as it was."""
        incomplete = _INCOMPLETE.get()
        problems: list[tuple[tuple[str | int, ...], str]] = []
        team_ids = [t.id for t in self.teams]
        duplicates = _repeats(team_ids, [(a.platform, a.name) for a in self.accounts])
        mail_accounts = sorted(a.name for a in self.accounts if a.platform == "email")
        for a in self.accounts:  # a channel that mails answers (web chat off hours) names its e-mail account
            via = a.options.get("email_account")
            if isinstance(via, str) and via not in mail_accounts and "accounts" not in incomplete:
                problems.append(
                    (
                        ("accounts", a.name, "options", "email_account"),
                        f"unknown e-mail account {via!r} (e-mail accounts: {', '.join(mail_accounts) or 'none'})",
                    )
                )
        known_teams = "teams" not in incomplete
        for i, agent in enumerate(self.agents):
            for team in agent.teams:
                if team not in team_ids and known_teams:
                    problems.append((("agents", i, "teams"), f"unknown team {team!r}"))
        for i, policy in enumerate(self.sla):
            if policy.team and policy.team not in team_ids and known_teams:
                problems.append((("sla", i, "team"), f"unknown team {policy.team!r}"))
        for i, rule in enumerate(self.rules):
            if rule.set.team and rule.set.team not in team_ids and known_teams:
                problems.append((("rules", i, "set", "team"), f"unknown team {rule.set.team!r}"))
            if rule.set.bot and rule.set.bot not in self.bots and "bots" not in incomplete:
                problems.append(
                    (("rules", i, "set", "bot"), f"bot {rule.set.bot!r} has no [bots.{rule.set.bot}] section")
                )
        portal = self.portal  # a help center named explicitly must exist: a misspelt name served none
        if portal.enabled and "bot" in portal.model_fields_set and not {"bots", "portal"} & incomplete:
            if portal.bot not in self.bots:
                problems.append((("portal", "bot"), f"bot {portal.bot!r} has no [bots.{portal.bot}] section"))
            elif not isinstance(self.bots[portal.bot], HelpCenterOptions):
                problems.append((("portal", "bot"), f'bot {portal.bot!r} is not of type "helpcenter"'))
        archivers = self.database.archiver_processes
        if archivers > self.redis.partitions and not {"redis", "database"} & incomplete:
            problems.append(
                (
                    ("database", "archivers"),
                    f"{archivers} archiver processes, more than redis.partitions ({self.redis.partitions}): "
                    "each owns a share of the partitions",
                )
            )
        if problems or duplicates:
            raise ValidationError.from_exception_data(
                "Settings",
                [
                    {"type": PydanticCustomError(kind, "{why}", {"why": why}), "loc": loc, "input": None}
                    for kind, found in ((DUPLICATE, duplicates), ("inconsistent", problems))
                    for loc, why in found
                ],
            )
        if not self.redis.url and os.environ.get("REDIS_URL"):
            self.redis.url = os.environ["REDIS_URL"]
        return self

    @property
    def default_team(self) -> str | None:
        for team in self.teams:
            if team.default:
                return team.id
        return self.teams[0].id if self.teams else None

    @property
    def portal_url(self) -> str | None:
        """Where the help center is reached, when it is served and that is known."""
        return (self.portal.public_url or self.console.public_url) if self.portal.enabled else None

    @property
    def hours(self) -> dict[str, BusinessHours]:
        return {t.id: t.hours for t in self.teams}


def _repeats(team_ids: list[Any], accounts: list[tuple[Any, Any]]) -> list[tuple[tuple[str | int, ...], str]]:
    """Each repeated team id and (platform, name) of an account, named where it is repeated; the
    first is not a repeat (`check_settings` leaves out only the repeats and checks the first)."""
    found: list[tuple[tuple[str | int, ...], str]] = [
        (("teams", i, "id"), f"duplicate team id {team_id!r}")
        for i, team_id in enumerate(team_ids)
        if isinstance(team_id, str) and team_id in team_ids[:i]
    ]
    found += [
        (("accounts", i, "name"), f"another {platform} account is named {name!r}")
        for i, (platform, name) in enumerate(accounts)
        if isinstance(platform, str) and isinstance(name, str) and (platform, name) in accounts[:i]
    ]
    return found


def _written_repeats(values: dict[str, Any]) -> list[str]:
    """`_repeats` among the elements as the file writes them: a repeat of an element that is
    broken itself (left out before the checks across sections) is named too."""

    def listed(section: str, *fields: str) -> list[tuple[Any, ...]]:
        elements = values.get(section)
        if not isinstance(elements, list):
            return []
        return [tuple(e.get(f) if isinstance(e, dict) else None for f in fields) for e in elements]

    teams = [team_id for (team_id,) in listed("teams", "id")]
    accounts = [(platform, name) for platform, name in listed("accounts", "platform", "name")]
    return [f"{'.'.join(str(p) for p in loc)}: {why}" for loc, why in _repeats(teams, accounts)]


class ConfigInvalid(Exception):
    """The configuration is wrong; `problems` lists "field.path: message" lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def load_settings(path: str | Path | None) -> Settings:
    """Read the TOML file (if any) and the environment, which overrides the file. Raises
    ConfigInvalid naming each field. Paths in the file (a bot's `kb`) are relative to the file:
    they are made absolute here, so nothing later needs to know where the file was."""
    settings, problems = check_settings(path)
    if problems or settings is None:
        raise ConfigInvalid(problems)
    return settings


def check_settings(path: str | Path | None) -> tuple[Settings | None, list[str]]:
    """What `load_settings` reads, and every problem of it ("field.path: message"), not only those
    that stop it. With problems, the settings returned (if any) are the rest: broken sections at
    their defaults, broken accounts, bots, teams, agents, rules and SLA policies left out, so that
    `helpline config check` can go on to check what they hold (bots' knowledge bases, connectors'
    options). None when nothing could be read (no file, a TOML syntax error)."""
    if path is None:
        values: dict[str, Any] = {}
        anchor = None
    else:
        file = Path(path)
        if not file.is_file():
            return None, [f"{file}: no such configuration file"]
        try:
            values = TomlConfigSettingsSource(Settings, toml_file=file)()
        except ValueError as exc:  # TOML syntax errors
            return None, [f"{path}: {exc}"]
        anchor = file.resolve().parent
    try:
        values = _merged(values, EnvSettingsSource(Settings)())
        settings = Settings(**values)
    except ValidationError as exc:
        errors = exc.errors()
    except ValueError as exc:  # an environment override that is not valid JSON
        return None, [str(exc)]
    else:
        return (_anchored(settings, anchor) if anchor else settings), []
    problems = [_describe(err) for err in errors]
    problems += [p for p in _written_repeats(values) if p not in problems]
    rest, incomplete, places = values, frozenset[str](), dict[str, list[int]]()
    for _ in range(3):  # the sections' own errors, then the checks across them, then what is left
        rest, left_out, places = _without(rest, errors, places)
        incomplete |= left_out
        token = _INCOMPLETE.set(incomplete)
        try:
            settings = Settings(**rest)
        except ValidationError as exc:  # checks across sections that only the rest could reach
            errors = exc.errors()
            problems += [p for p in (_describe(err, places) for err in errors) if p not in problems]
        else:
            return (_anchored(settings, anchor) if anchor else settings), problems
        finally:
            _INCOMPLETE.reset(token)
    return None, problems


#: Sections that are collections: a broken element is left out, the others kept.
_COLLECTIONS = ("teams", "agents", "accounts", "rules", "sla", "bots")


def _without(
    values: dict[str, Any], errors: list[Any], places: dict[str, list[int]]
) -> tuple[dict[str, Any], frozenset[str], dict[str, list[int]]]:
    """`values` less what `errors` locate: the broken elements of collections, other broken
    sections whole (back to their defaults); the collections that lost an element other than a
    repeat; and, for each list that lost elements, where its remaining ones are in the file
    (`places` gives that for `values`' lists)."""
    rest, places = dict(values), dict(places)
    broken: dict[str, set[Any]] = {}
    partial: set[str] = set()
    for err in errors:
        loc = err.get("loc", ())
        if not loc:
            continue
        section = str(loc[0])
        if section in _COLLECTIONS and len(loc) > 1 and section in rest:
            broken.setdefault(section, set()).add(loc[1])
            if err.get("type") != DUPLICATE:
                partial.add(section)
        else:
            rest.pop(section, None)
    for section, keys in broken.items():
        kept = rest[section]
        if isinstance(kept, list):
            at = places.get(section, list(range(len(kept))))
            left = [i for i in range(len(kept)) if i not in keys and str(i) not in keys]
            rest[section], places[section] = [kept[i] for i in left], [at[i] for i in left]
        elif isinstance(kept, dict):
            rest[section] = {name: item for name, item in kept.items() if name not in keys}
        else:
            rest.pop(section)
    lost = frozenset(s for s in _COLLECTIONS if s in values and s not in rest)
    return rest, frozenset(partial) | lost, places


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`, tables merged key by key (as pydantic-settings merges sources)."""
    out = dict(base)
    for key, value in override.items():
        below = out.get(key)
        out[key] = _merged(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return out


def _anchored(settings: Settings, folder: Path) -> Settings:
    """Relative folder paths (a help-center bot's `kb`, also its default) anchored at the file's folder."""
    for name, options in settings.bots.items():
        if isinstance(options, HelpCenterOptions) and not Path(options.kb).is_absolute():
            settings.bots[name] = options.model_copy(update={"kb": str(folder / options.kb)})
    return settings


def _describe(err: Any, places: dict[str, list[int]] | None = None) -> str:
    """The line of one error, "field.path: message"; `places`: where the elements of lists that
    lost some are in the file, so that an element is named by its place there."""
    loc = list(err.get("loc", ()))
    at = places.get(str(loc[0])) if places and len(loc) > 1 else None
    if at is not None and isinstance(loc[1], int) and 0 <= loc[1] < len(at):
        loc[1] = at[loc[1]]
    where = ".".join(str(p) for p in loc)
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message  # a check across fields names its own
