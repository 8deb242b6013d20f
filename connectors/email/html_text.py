"""Mail HTML to plain text, safely: nothing is fetched, run or rendered.

Script, style and head are dropped with their content; blocks and `<br>` become line breaks;
a link keeps its address beside its text; quoted history (`<blockquote>`, Gmail's
`gmail_quote`, Outlook's divider) is prefixed with "> " so the quote trimmer recognises it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = {
    "p",
    "div",
    "blockquote",
    "li",
    "ul",
    "ol",
    "pre",
    "table",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "section",
    "article",
    "header",
    "footer",
}
_SKIP = {"script", "style", "head", "title", "template", "noscript", "object", "iframe", "svg"}
_VOID = {"br", "img", "hr", "meta", "link", "input", "area", "base", "col", "embed", "source", "wbr"}
_SPACES = re.compile(r"[ \t\r\n\f\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.skip = 0
        self.pre = 0
        self.quote = 0  # depth of quoted history
        self.stack: list[tuple[str, bool]] = []  # open elements: (tag, opened a quote)
        self.href: str | None = None
        self.anchor_text: list[str] = []

    def _break(self) -> None:
        text = "".join(self.line).strip() if not self.pre else "".join(self.line).rstrip()
        prefix = "> " * self.quote
        self.lines.append(prefix + text if text else prefix.rstrip())
        self.line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in _SKIP:
            self.skip += 1
            return
        if self.skip:
            return
        if tag == "br":
            self._break()
            return
        if tag == "img":
            if alt := a.get("alt", "").strip():
                self.line.append(f"[{alt}]")
            return
        if tag in _BLOCKS:
            self._break()
        if tag == "li":
            self.line.append("- ")
        if tag == "pre":
            self.pre += 1
        if tag == "a":
            self.href = a.get("href", "").strip() or None
            self.anchor_text = []
        if tag in _VOID:
            return
        classes = a.get("class", "")
        quoting = tag == "blockquote" or "gmail_quote" in classes or "divRplyFwdMsg" in a.get("id", "")
        if quoting:
            self.quote += 1
        self.stack.append((tag, quoting))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip or tag in _VOID:
            return
        if tag == "a" and self.href is not None:
            text = "".join(self.anchor_text).strip()
            href = self.href
            if href.lower().startswith(("http://", "https://", "mailto:")) and href.removeprefix("mailto:") != text:
                self.line.append(f" ({href})")
            self.href = None
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        # Close up to the matching element (mail HTML is often not well nested).
        while self.stack:
            open_tag, quoting = self.stack.pop()
            if quoting:
                if tag in _BLOCKS or open_tag in _BLOCKS:
                    self._break()
                self.quote = max(0, self.quote - 1)
            if open_tag == tag:
                break
        if tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            parts = data.split("\n")
            for i, part in enumerate(parts):
                if i:
                    self._break()
                self.line.append(part)
        else:
            self.line.append(_SPACES.sub(" ", data))
        if self.href is not None:
            self.anchor_text.append(data)

    def text(self) -> str:
        self._break()
        lines = [_SPACES.sub(" ", ln).strip() if not ln.startswith(">") else ln.rstrip() for ln in self.lines]
        return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    converter = _Converter()
    converter.feed(html)
    converter.close()
    return converter.text()
