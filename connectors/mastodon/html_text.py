"""Status HTML to plain text.

Mastodon sends sanitized HTML (`<p>`, `<br>`, `<span>`, `<a>`); other fediverse servers send a
little more. Paragraphs become blank lines, `<br>` a line break, entities are unescaped, and the
leading mentions of our own account ("@support hello") are dropped: every customer message starts
with one, and it says nothing to the agent. A mention of us later in the text is kept.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from html.parser import HTMLParser

_BLOCKS = {"p", "div", "blockquote", "li", "ul", "ol", "pre", "h1", "h2", "h3", "h4", "h5", "h6"}
_SKIP = {"script", "style", "template"}
_SPACES = re.compile(r"[ \t\r\n\f]+")


class _Converter(HTMLParser):
    def __init__(self, own_hrefs: Collection[str], own_handles: Collection[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.own_hrefs = {h.rstrip("/").lower() for h in own_hrefs}
        self.own_handles = {h.lower().lstrip("@") for h in own_handles}
        self.out: list[str] = []
        self.leading = True  # nothing but mentions (and spaces) emitted so far
        self.skip = 0
        self.pre = 0
        self.anchor: list[str] | None = None  # text of the mention link being read
        self.anchor_href = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self._emit("\n", raw=True)
        elif tag in _BLOCKS:
            self._block()
            if tag == "pre":
                self.pre += 1
        elif tag == "a":
            classes = (dict(attrs).get("class") or "").split()
            if "mention" in classes and "hashtag" not in classes:
                self.anchor, self.anchor_href = [], dict(attrs).get("href") or ""
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._emit(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCKS:
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            self._block()
        elif tag == "a" and self.anchor is not None:
            text, self.anchor = "".join(self.anchor), None
            if not (self.leading and self._is_own(text)):
                self._emit(text)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.anchor is not None:
            self.anchor.append(data)
        else:
            self._emit(data)

    def _is_own(self, text: str) -> bool:
        if self.anchor_href.rstrip("/").lower() in self.own_hrefs:
            return True
        return text.strip().lstrip("@").lower() in self.own_handles

    def _block(self) -> None:
        if self.out and not "".join(self.out[-2:]).endswith("\n\n"):
            self.out.append("\n\n")

    def _emit(self, text: str, raw: bool = False) -> None:
        if not raw and not self.pre:
            text = _SPACES.sub(" ", text)
            if not self.out or self.out[-1].endswith("\n"):
                text = text.lstrip(" ")  # no indent from source formatting after a break
        if self.leading and text.strip():
            self.leading = False
        self.out.append(text)


def html_to_text(html: str, own_hrefs: Collection[str] = (), own_handles: Collection[str] = ()) -> str:
    """Plain text of status HTML; leading mentions of our account (by profile URL, username or
    acct) are dropped."""
    converter = _Converter(own_hrefs, own_handles)
    converter.feed(html)
    converter.close()
    lines = [line.rstrip(" \t") for line in "".join(converter.out).split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
