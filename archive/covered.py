"""Which conversations the archiver has read ahead of its change streams: each is read once per
backlog, not once per batch of entries that names it.

Every script that changes a conversation appends its change entry in the same atomic call, and the
archiver reads a conversation in one atomic script that also returns its change stream's last entry
id. Once that read is in the record, every entry up to that id that names the conversation is
covered: reading it again would find the version the record holds. In a backlog a conversation is
named by entries far apart (each message, reply and assignment); without this, each batch of
entries that named it read it and compared it with the record again.

Only a hint: a conversation not (or no longer) covered is read, as before. Coverage is forgotten
once the stream is read past it, and all of it if it grows beyond `limit`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping


def position(entry_id: str) -> int:
    """Pure: a stream entry id ("ms-seq") as one number in the streams' order."""
    ms, _, seq = entry_id.partition("-")
    return (int(ms) << 64) | int(seq or 0)


class Covered:
    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._at: dict[str, int] = {}  # conversation id → the position its archived read covers
        self._order: dict[int, deque[tuple[int, str]]] = {}  # per partition, in the order read

    def __len__(self) -> int:
        return len(self._at)

    def covers(self, conversation_id: str, entry_id: str) -> bool:
        """Whether the record holds what the entry names of this conversation."""
        return position(entry_id) <= self._at.get(conversation_id, -1)

    def add(self, read_at: Mapping[str, tuple[int, str]]) -> None:
        """Conversations now in the record as read at (partition, that stream's last entry id)."""
        if len(self._at) + len(read_at) > self.limit:
            self._at.clear()
            self._order.clear()
        for conversation_id, (partition, entry_id) in read_at.items():
            at = position(entry_id)
            self._at[conversation_id] = at
            self._order.setdefault(partition, deque()).append((at, conversation_id))

    def passed(self, partition: int, entry_id: str) -> None:
        """The partition's stream was read up to `entry_id`: no entry up to it comes again (but
        for a dead consumer's, claimed: those are read, not skipped)."""
        order = self._order.get(partition)
        at = position(entry_id)
        while order and order[0][0] <= at:
            _, conversation_id = order.popleft()
            if self._at.get(conversation_id, at + 1) <= at:
                del self._at[conversation_id]
