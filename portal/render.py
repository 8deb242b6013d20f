"""Article bodies as HTML: CommonMark with raw HTML disabled, so an article's `<script>` or
`<img onerror>` is shown as text, never run. markdown-it also refuses `javascript:`, `vbscript:`
and `file:` links. Pure; pages render each article once at startup."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

_MD = MarkdownIt("commonmark", {"html": False}).enable("table")


def article_html(markdown: str) -> Markup:
    """Safe HTML for an article body (markdown-it escapes every text and attribute)."""
    return Markup(_MD.render(markdown))  # noqa: S704 - raw HTML is disabled: the output is escaped
