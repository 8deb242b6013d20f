"""Quoted history and signatures trimmed off a mail for the conversation view.

Mail clients quote the whole thread under every answer; the conversation already shows it. The
trimmed text is what the customer wrote now; the full original stays with the message (stored
and viewable), so nothing is lost when a heuristic cuts too much. If trimming would leave
nothing, the full text is kept.
"""

from __future__ import annotations

import re

# The line a client writes above the quoted history, in the languages customers write in.
_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"On .{3,200}wrote:?"  # Gmail, Apple Mail, Thunderbird (en)
    r"|Le .{3,200}a écrit\s*:"  # fr
    r"|Am .{3,200}schrieb .{0,80}:"  # de
    r"|El .{3,200}escribió:"  # es
    r"|-{2,}\s*(?:Original Message|Forwarded message|원본 메시지|原始邮件|元のメッセージ)\s*-{2,}"
    r"|_{10,}"  # Outlook's divider
    r"|.{1,200}님이 작성(?:한 글)?\s*:"  # ko (Gmail)
    r"|.{0,200}(?:님이|에) 작성:"  # ko
    r"|.{1,200}写道\s*[:：]"  # zh
    r"|.{1,200}(?:さんは書きました|のメッセージ|wrote)\s*[:：]"  # ja
    r")\s*$",
    re.IGNORECASE,
)
# An Outlook header block: "From: ..." followed by "Sent:"/"Date:" within a few lines.
_OUTLOOK_FROM = re.compile(r"^\s*\*?(?:From|보낸 사람|发件人|差出人)\s*[:：]", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(
    r"^\s*\*?(?:Sent|Date|To|Subject|날짜|보낸 날짜|发送时间|日時|送信日時)\s*[:：]", re.IGNORECASE
)
_SIGNATURE = re.compile(
    r"^(?:-- ?|Sent from my .{1,40}|Get Outlook for .{1,40}|Sent from Mail for Windows.*"
    r"|iPhone에서 보냄|iPhone から送信|从我的iPhone发送|发自我的iPhone)\s*$",
    re.IGNORECASE,
)


def _attribution_above(lines: list[str], quote: int) -> int:
    """Where the history starts, given the first line of a quote that runs to the end: the line
    above it (past blank ones) belongs to it when it introduces it ("<date> <name> <addr>:")."""
    i = quote - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    line = lines[i].rstrip() if i >= 0 else ""
    if line.endswith((":", "：")) and any(c.isdigit() or c == "@" for c in line):
        return i
    return quote


def trim_reply(text: str) -> str:
    """The new part of a mail: up to the quoted history, without the signature. Pure."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    end = len(lines)
    for i, line in enumerate(lines):
        if _ATTRIBUTION.match(line) or (
            _OUTLOOK_FROM.match(line) and any(_OUTLOOK_NEXT.match(nxt) for nxt in lines[i + 1 : i + 4])
        ):
            end = i
            break
        if line.startswith(">") and all(not ln.strip() or ln.startswith(">") for ln in lines[i:]):
            end = _attribution_above(lines, i)  # a quote running to the end
            break
    kept = lines[:end]
    for i, line in enumerate(kept):
        if _SIGNATURE.match(line):
            kept = kept[:i]
            break
    trimmed = "\n".join(kept).strip()
    return trimmed or text.strip()
