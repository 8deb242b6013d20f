from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpline.bots.kb import SUPPORTED_LANGUAGES, KBError, KnowledgeBase, check_kb, load_kb
from helpline.bots.kb_cli import app

GOOD = """---
id: {id}
key: {key}
language: {lang}
title: "A title"
tags: ["a", "b"]
url: https://help.example.com/articles/{key}
---
First paragraph answer.

## Details

More.
"""


def write(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_shipped_kb_is_valid_and_complete(kb: KnowledgeBase) -> None:
    assert kb.languages() == tuple(sorted(SUPPORTED_LANGUAGES))
    for lang in SUPPORTED_LANGUAGES:
        assert len(kb.in_language(lang)) >= 30
    # every key is translated into every language
    for key in kb.article_keys():
        assert all(kb.get(key, lang) is not None for lang in SUPPORTED_LANGUAGES), key


def test_loads_recursively_into_frozen_models(tmp_path: Path) -> None:
    write(tmp_path, "en/a.md", GOOD.format(id="a-en", key="a", lang="en"))
    write(tmp_path, "deep/ko/a.md", GOOD.format(id="a-ko", key="a", lang="ko"))
    kb = load_kb(tmp_path)
    article = kb.get("a", "ko")
    assert article is not None and article.tags == ("a", "b")
    assert article.answer == "First paragraph answer."
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error
        article.title = "changed"  # type: ignore[misc]


def test_a_folder_readme_is_not_taken_for_an_article(tmp_path: Path) -> None:
    """A help center kept in a repository has a README (no front matter): it is not an article."""
    write(tmp_path, "en/a.md", GOOD.format(id="a-en", key="a", lang="en"))
    write(tmp_path, "README.md", "# Our help center\n\nArticles in en/.\n")
    write(tmp_path, "en/readme.md", "Notes for writers.\n")
    assert [a.id for a in load_kb(tmp_path).articles] == ["a-en"]
    assert check_kb(tmp_path) == []


def test_check_names_each_bad_file_and_field(tmp_path: Path) -> None:
    write(tmp_path, "ok.md", GOOD.format(id="x-en", key="x", lang="en"))
    write(tmp_path, "zdup.md", GOOD.format(id="x-en", key="y", lang="en"))
    write(tmp_path, "lang.md", GOOD.format(id="z-fr", key="z", lang="fr"))
    write(tmp_path, "noid.md", GOOD.format(id="", key="w", lang="en").replace("id: \n", ""))
    write(tmp_path, "notitle.md", GOOD.format(id="t-en", key="t", lang="en").replace('title: "A title"\n', ""))
    write(tmp_path, "tags.md", GOOD.format(id="g-en", key="g", lang="en").replace('["a", "b"]', '"a, b"'))
    write(
        tmp_path,
        "empty.md",
        GOOD.format(id="e-en", key="e", lang="en").split("---\n", 2)[0]
        + "---\n"
        + GOOD.format(id="e-en", key="e", lang="en").split("---\n", 2)[1]
        + "---\n\n",
    )
    write(tmp_path, "twin.md", GOOD.format(id="x-en-2", key="x", lang="en"))
    problems = {(p.path, p.field) for p in check_kb(tmp_path)}
    assert ("zdup.md", "id") in problems
    assert ("lang.md", "language") in problems
    assert ("noid.md", "id") in problems
    assert ("notitle.md", "title") in problems
    assert ("tags.md", "tags") in problems
    assert ("empty.md", "body") in problems
    assert ("twin.md", "language") in problems  # key "x" already has an "en" article
    assert ("ok.md", "id") not in problems
    with pytest.raises(KBError) as err:
        load_kb(tmp_path)
    assert "lang.md: language" in str(err.value)


def test_cli_check_exit_codes(tmp_path: Path) -> None:
    write(tmp_path, "en/a.md", GOOD.format(id="a-en", key="a", lang="xx"))
    result = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "en/a.md: language" in result.output
    write(tmp_path, "en/a.md", GOOD.format(id="a-en", key="a", lang="en"))
    result = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 0 and "1 articles" in result.output


def test_cli_check_takes_the_deployment_languages(tmp_path: Path) -> None:
    write(tmp_path, "vi/a.md", GOOD.format(id="a-vi", key="a", lang="vi"))
    assert CliRunner().invoke(app, ["check", str(tmp_path)]).exit_code == 1  # not a default language
    result = CliRunner().invoke(app, ["check", str(tmp_path), "-l", "en", "-l", "vi"])
    assert result.exit_code == 0 and "1 articles" in result.output


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "questions.jsonl: No such file or directory"),
        (b'{"id": "q1", "text": "hi"}\n', "questions.jsonl:1: bad question: no 'language' field"),
        (b"not json\n", "questions.jsonl:1: bad question: Expecting value"),
        (b'["q1"]\n', "each line must be a JSON object"),
        (b"\xff\xfe\n", "questions.jsonl: not UTF-8 text"),
    ],
)
def test_cli_eval_names_a_bad_question_set_in_one_line(tmp_path: Path, content: bytes | None, said: str) -> None:
    questions = tmp_path / "questions.jsonl"
    if content is not None:
        questions.write_bytes(content)
    for command in (["eval", "--bm25-only"], ["calibrate"]):
        result = CliRunner().invoke(app, [*command, "--kb", str(tmp_path / "kb"), str(questions)])
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.exception
        assert said in result.output


def test_cli_eval_names_the_problems_of_a_broken_knowledge_base(tmp_path: Path) -> None:
    write(tmp_path, "kb/en/a.md", GOOD.format(id="a-en", key="a", lang="xx"))
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "q1", "language": "en", "text": "hi", "expected": "a"}\n')
    result = CliRunner().invoke(app, ["eval", "--bm25-only", "--kb", str(tmp_path / "kb"), str(questions)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.exception
    assert "en/a.md: language" in result.output and "1 problem(s)" in result.output
    missing = CliRunner().invoke(app, ["eval", "--bm25-only", "--kb", str(tmp_path / "none"), str(questions)])
    assert missing.exit_code == 2 and "not a directory" in missing.output


def test_cli_calibrate_learns_from_another_help_center_with_its_own_questions() -> None:
    from .conftest import KB_DIR

    tuning = [str(KB_DIR / "eval" / "questions.jsonl"), "--kb", str(KB_DIR), "--drop", "0"]
    alone = CliRunner().invoke(app, ["calibrate", *tuning])
    nova = KB_DIR.parent / "examples" / "nova-help-center"
    both = CliRunner().invoke(app, ["calibrate", *tuning, "--also", str(nova)])
    assert alone.exit_code == both.exit_code == 0, (alone.output, both.output)
    for language in SUPPORTED_LANGUAGES:
        assert f"# search.{language}.toml" in alone.output and f"# search.{language}.toml" in both.output
    assert alone.output != both.output  # its questions were learned from
    # A folder without its questions is named, not skipped.
    bare = CliRunner().invoke(app, ["calibrate", *tuning, "--also", str(KB_DIR)])
    assert bare.exit_code == 2 and "questions.jsonl: No such file or directory" in bare.output
