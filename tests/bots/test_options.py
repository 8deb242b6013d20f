"""Bot sections are typed per bot type: a misspelt key or an out-of-range value is a configuration
error naming `bots.<name>.<key>`, at load time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpline.bots.options import AutoReplyOptions, HelpCenterOptions
from helpline.config import ConfigInvalid, load_settings


def problems(tmp_path: Path, toml: str) -> list[str]:
    cfg = tmp_path / "h.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigInvalid) as caught:
        load_settings(cfg)
    return caught.value.problems


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "[bots.helpcenter]\nmax_attemps = 3\n",
            "bots.helpcenter.max_attemps: not an option of the helpcenter bot type "
            "(its options: embeddings, generative, kb, max_attempts, type)",
        ),
        (
            "[bots.helpcenter]\ngenerativ = { enabled = true }\n",
            "bots.helpcenter.generativ: not an option of the helpcenter bot type",
        ),
        (
            '[bots.ack]\ntype = "autoreply"\nhandof = false\ntexts = { en = "hi" }\n',
            "bots.ack.handof: not an option of the autoreply bot type",
        ),
        (
            "[bots.helpcenter]\nmax_attempts = 0\n",
            "bots.helpcenter.max_attempts: Input should be greater than or equal to 1",
        ),
        (
            "[bots.helpcenter]\nmax_attempts = 99\n",
            "bots.helpcenter.max_attempts: Input should be less than or equal to 10",
        ),
        (
            '[bots.helpcenter]\ngenerative = { enabled = true, base_url = "http://127.0.0.1:9/v1" }\n',
            "bots.helpcenter.generative: model required when enabled",
        ),
        (
            "[bots.helpcenter]\n"
            'generative = { enabled = true, base_url = "http://h/v1", model = "m", timeout_seconds = 0 }\n',
            "bots.helpcenter.generative.timeout_seconds: Input should be greater than 0",
        ),
        ('[bots.ack]\ntexts = { en = "hi" }\n', "bots.ack.type: unknown bot type 'ack' (known: autoreply, helpcenter)"),
    ],
)
def test_a_wrong_bot_option_is_named(tmp_path: Path, section: str, expected: str) -> None:
    found = problems(tmp_path, section)
    assert any(p.startswith(expected) for p in found), found


def test_every_wrong_bot_option_is_listed_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        '[bots.helpcenter]\nmax_attemps = 3\nkb = ""\n\n'
        '[bots.ack]\ntype = "autoreply"\ntexts = { en = "hi" }\nhandof = true\n',
    )
    assert {p.split(":")[0] for p in found} == {"bots.helpcenter.max_attemps", "bots.helpcenter.kb", "bots.ack.handof"}


def test_bot_sections_are_read_typed(tmp_path: Path) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(
        "[bots.helpcenter]\nmax_attempts = 3\n"
        'generative = { enabled = true, base_url = "http://127.0.0.1:9/v1", model = "m" }\n\n'
        '[bots.night]\ntype = "autoreply"\nhandoff = false\ntexts = { en = "We are closed." }\n'
    )
    bots = load_settings(cfg).bots
    helpcenter, night = bots["helpcenter"], bots["night"]
    assert isinstance(helpcenter, HelpCenterOptions) and helpcenter.max_attempts == 3
    assert helpcenter.kb == str(tmp_path.resolve() / "kb")  # relative to the file, anchored when loaded
    assert helpcenter.generative.enabled and helpcenter.generative.timeout_seconds == 8.0
    assert isinstance(night, AutoReplyOptions) and not night.handoff and night.texts == {"en": "We are closed."}


def test_an_autoreply_bot_needs_a_text_in_the_default_language() -> None:
    from helpline.bot_setup import build_bots
    from helpline.connectors.errors import ConfigError
    from tests.factories import settings

    with pytest.raises(ConfigError, match=r"bots\.ack\.texts: .* including 'en'"):
        build_bots(settings(bots={"ack": {"type": "autoreply", "texts": {"ko": "안녕하세요"}}}))


def test_settings_dump_and_reload_keep_each_bots_options() -> None:
    from helpline.config import Settings
    from tests.factories import settings

    before = settings(
        bots={"helpcenter": {"max_attempts": 3, "generative": {"enabled": True, "base_url": "http://h", "model": "m"}}}
    )
    dumped = before.model_dump(mode="json")
    assert dumped["bots"]["helpcenter"]["max_attempts"] == 3
    assert Settings(**dumped).bots == before.bots


def test_the_config_file_is_passed_not_put_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file's folder anchors its relative kb wherever the process runs, and loading it leaves
    no trace in the environment: a later load without a file reads no file."""
    from helpline.bot_setup import build_bots
    from helpline.bots.helpcenter import HelpCenterBot
    from helpline.config import Settings
    from tests.bots.conftest import KB_DIR

    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "kb").symlink_to(KB_DIR)
    cfg = folder / "helpline.toml"
    cfg.write_text("[redis]\npartitions = 8\n\n[bots.helpcenter]\n")  # kb: its default, "kb"
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("HELPLINE_REDIS__URL", "redis://127.0.0.1:1/0")
    loaded = load_settings(cfg)
    assert loaded.redis.partitions == 8 and loaded.redis.url == "redis://127.0.0.1:1/0"  # the environment adds
    assert isinstance(build_bots(loaded)["helpcenter"], HelpCenterBot)
    assert "HELPLINE_CONFIG_FILE" not in os.environ
    assert Settings().redis.partitions == 16 and load_settings(None).redis.partitions == 16
    monkeypatch.setenv("HELPLINE_REDIS__PARTITIONS", "4")
    assert load_settings(cfg).redis.partitions == 4  # ... and overrides the file
