"""The help-center knowledge base: Markdown articles with YAML front matter.

One file is one article in one language. Translations of the same article share a `key`; each file
has its own unique `id`. Loading is strict: `check_kb` names every bad file and field, and
`load_kb` refuses to return a half-valid knowledge base (a bot answering from a broken article is
worse than a bot that does not start).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from pydantic import BaseModel, ConfigDict

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "ko", "zh", "ja")


class Article(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    key: str
    language: str
    title: str
    tags: tuple[str, ...] = ()
    url: str | None = None
    summary: str | None = None
    category: str | None = None  # the help center's grouping, in the article's language
    body: str
    path: str = ""

    @property
    def answer(self) -> str:
        """What the bot sends: the summary, else the first paragraph of the body."""
        if self.summary and self.summary.strip():
            return self.summary.strip()
        return first_paragraph(self.body)


@dataclass(frozen=True)
class Problem:
    path: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"


class KBError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class KnowledgeBase:
    """Articles indexed by (key, language). Immutable after construction."""

    def __init__(self, articles: Iterable[Article]) -> None:
        self.articles: tuple[Article, ...] = tuple(sorted(articles, key=lambda a: (a.key, a.language)))
        self._by_key_lang = {(a.key, a.language): a for a in self.articles}
        # once: the help center asks for every article page it serves (a set over every article)
        self._languages = tuple(sorted({a.language for a in self.articles}))

    def __len__(self) -> int:
        return len(self.articles)

    def languages(self) -> tuple[str, ...]:
        return self._languages

    def article_keys(self) -> tuple[str, ...]:
        return tuple(sorted({a.key for a in self.articles}))

    def in_language(self, language: str) -> tuple[Article, ...]:
        return tuple(a for a in self.articles if a.language == language)

    def get(self, key: str, language: str) -> Article | None:
        return self._by_key_lang.get((key, language))


def first_paragraph(body: str) -> str:
    """The first block of prose, skipping headings (the body's short answer by convention)."""
    for block in body.strip().split("\n\n"):
        lines = [ln for ln in block.strip().splitlines() if not ln.lstrip().startswith("#")]
        text = " ".join(ln.strip() for ln in lines).strip()
        if text:
            return text
    return ""


NOT_ARTICLES = frozenset({"readme.md", "changelog.md", "license.md", "contributing.md"})  # a repository's own pages


def _article_files(folder: Path) -> Iterator[Path]:
    yield from sorted(p for p in folder.rglob("*.md") if p.is_file() and p.name.lower() not in NOT_ARTICLES)


def _parse(path: Path, root: Path) -> tuple[dict[str, Any], str, list[Problem]]:
    name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    try:
        post = frontmatter.load(str(path))
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as exc:
        return {}, "", [Problem(name, "front matter", f"unreadable: {exc}")]
    return dict(post.metadata), post.content, []


def _check_fields(name: str, meta: dict[str, Any], body: str, languages: tuple[str, ...]) -> list[Problem]:
    problems: list[Problem] = []
    for field in ("id", "key", "title"):
        value = meta.get(field)
        if not isinstance(value, str | int) or not str(value).strip():
            problems.append(Problem(name, field, "missing or empty"))
    language = meta.get("language")
    if not isinstance(language, str) or not language.strip():
        problems.append(Problem(name, "language", "missing or empty"))
    elif language not in languages:
        problems.append(Problem(name, "language", f"unknown language {language!r} (expected one of {languages})"))
    tags = meta.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        problems.append(Problem(name, "tags", "must be a list of non-empty strings"))
    for field in ("url", "summary", "category"):
        if field in meta and meta[field] is not None and not isinstance(meta[field], str):
            problems.append(Problem(name, field, "must be a string"))
    unknown = set(meta) - {"id", "key", "language", "title", "tags", "url", "summary", "category"}
    if unknown:
        problems.append(Problem(name, "front matter", f"unknown fields {sorted(unknown)}"))
    if not body.strip():
        problems.append(Problem(name, "body", "empty"))
    return problems


def _read(folder: Path, languages: tuple[str, ...]) -> tuple[list[Article], list[Problem]]:
    folder = Path(folder)
    if not folder.is_dir():
        return [], [Problem(str(folder), "folder", "not a directory")]
    articles: list[Article] = []
    problems: list[Problem] = []
    ids: dict[str, str] = {}
    key_langs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in _article_files(folder):
        meta, body, parse_problems = _parse(path, folder)
        name = str(path.relative_to(folder))
        if parse_problems:
            problems.extend(parse_problems)
            continue
        file_problems = _check_fields(name, meta, body, languages)
        article_id = str(meta.get("id", "")).strip()
        if article_id:
            if article_id in ids:
                file_problems.append(Problem(name, "id", f"duplicate id {article_id!r} (also in {ids[article_id]})"))
            else:
                ids[article_id] = name
        if isinstance(meta.get("key"), str | int) and isinstance(meta.get("language"), str):
            key_langs[(str(meta["key"]), meta["language"])].append(name)
        if file_problems:
            problems.extend(file_problems)
            continue
        articles.append(
            Article(
                id=article_id,
                key=str(meta["key"]).strip(),
                language=meta["language"],
                title=str(meta["title"]).strip(),
                tags=tuple(t.strip() for t in meta.get("tags", [])),
                url=meta.get("url"),
                summary=meta.get("summary"),
                category=(meta.get("category") or "").strip() or None,
                body=body.strip(),
                path=name,
            )
        )
    for (key, language), names in sorted(key_langs.items()):
        for name in names[1:]:
            problems.append(Problem(name, "language", f"key {key!r} already has a {language!r} article ({names[0]})"))
    return articles, problems


def check_kb(folder: Path, languages: tuple[str, ...] = SUPPORTED_LANGUAGES) -> list[Problem]:
    """Every problem in the folder's articles, each naming its file and field. Empty means valid."""
    return _read(folder, languages)[1]


def load_kb(folder: Path, languages: tuple[str, ...] = SUPPORTED_LANGUAGES) -> KnowledgeBase:
    """Load every `*.md` under `folder` (recursively); raise KBError listing all problems."""
    articles, problems = _read(folder, languages)
    if problems:
        raise KBError(problems)
    return KnowledgeBase(articles)
