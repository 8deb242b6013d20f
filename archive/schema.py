"""The record's tables (SQLAlchemy Core). Times are epoch milliseconds (BigInteger), as in Redis.

Rows are keyed by ids that never change, so archiving the same thing twice writes the same row:
a conversation by its id, a message by (conversation, its history score), an event by
(conversation, its position in the event list), a reply by its deterministic reply id.

The full-text index differs per engine (created by the migrations, not here):
- SQLite: an FTS5 table `conversation_search` whose rowid is `conversations.num`, which there
  orders newest first (`search_order`): FTS5 yields matches in rowid order, so a page of the
  newest matches reads only those;
- PostgreSQL: a generated `tsvector` column `conversations.search` with a GIN index.
Both index `conversations.document`, the conversation's distinct search tokens (`tokens.py`).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("num", BigInteger, nullable=False, unique=True),  # the search index's row id (see the top)
    Column("platform", String(32), nullable=False),
    Column("account", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("thread_key", String(256), nullable=False),
    Column("contact_id", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("team", String(64)),
    Column("assignee", String(64)),
    Column("handler", String(96)),
    Column("labels", Text, nullable=False, default="[]"),  # JSON array
    Column("language", String(16)),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("first_response_at", BigInteger),
    Column("resolved_at", BigInteger),
    Column("message_count", Integer, nullable=False, default=0),
    Column("rev", BigInteger, nullable=False, default=0),  # the Redis `version` this row was written from
    Column("archived_events", Integer, nullable=False, default=0),  # events archived (a prefix of the list)
    Column("archived_messages", Integer, nullable=False, default=0),
    Column("last_score", BigInteger, nullable=False, default=0),  # highest history score archived
    Column("last_event", String(40), nullable=False, default=""),  # sha1 of the last event archived ("": none)
    Column("fields", Text, nullable=False, default="{}"),  # the other hash fields (to restore it whole)
    Column("document", Text, nullable=False, default=""),
)
Index("conversations_newest", conversations.c.updated_at, conversations.c.id)  # newest first, ties by id
Index("conversations_contact", conversations.c.contact_id, conversations.c.updated_at)
Index("conversations_team", conversations.c.team, conversations.c.updated_at)

messages = Table(
    "messages",
    metadata,
    Column("conversation_id", String(32), primary_key=True),
    Column("seq", BigInteger, primary_key=True),  # the history score (inbound stream position)
    Column("message_id", String(128), nullable=False),
    Column("author_id", String(128), nullable=False),
    Column("author_handle", String(256), nullable=False, default=""),
    Column("author_name", String(256), nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("language", String(16)),
    Column("at", BigInteger, nullable=False),  # platform time
    Column("raw", Text, nullable=False),  # the message JSON, as Redis held it (restores it byte for byte)
)

events = Table(
    "events",
    metadata,
    Column("conversation_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("type", String(32), nullable=False),
    Column("actor", String(96), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("raw", Text, nullable=False),
)
Index("events_type_at", events.c.type, events.c.at)  # the KB gaps report: the handoffs of a range

replies = Table(
    "replies",
    metadata,
    Column("reply_id", String(200), primary_key=True),
    Column("conversation_id", String(32), nullable=False, default=""),  # "" until its event is archived
    Column("sender", String(96), nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("private", Boolean, nullable=False, default=False),
    Column("created_at", BigInteger, nullable=False, default=0),
    Column("state", String(16), nullable=False, default="queued"),
    Column("platform_ids", Text, nullable=False, default="[]"),
    Column("error", Text, nullable=False, default=""),
    Column("updated_at", BigInteger, nullable=False, default=0),
)
Index("replies_conversation", replies.c.conversation_id)

contacts = Table(
    "contacts",
    metadata,
    Column("id", String(256), primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("account", String(64), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("handle", String(256), nullable=False, default=""),
    Column("display_name", String(256), nullable=False, default=""),
    Column("language", String(16)),
    Column("last_agent", String(64)),
    Column("email", String(254)),  # an address the customer left for our answer
)

#: The words a contact is found by when linking (`contact_terms.py`): handle, each word of the name
#: and the whole name, e-mail address, platform user id; casefolded. A prefix of a term
#: is a range of this index (`term >= q AND term < q'`): binary order on both engines (PostgreSQL:
#: the column's collation is "C", set by the migration).
contact_terms = Table(
    "contact_terms",
    metadata,
    Column("term", String(256), primary_key=True),
    Column("contact_id", String(256), primary_key=True),
)
Index("contact_terms_contact", contact_terms.c.contact_id)  # rewriting or deleting a contact's terms

#: Per partition, the highest conversation id seq the record has written (`counters.py`): Redis's
#: id counters are raised to it, so an id is never given to a second conversation.
conversation_seqs = Table(
    "conversation_seqs",
    metadata,
    Column("partition_number", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
)

erasures = Table(
    "erasures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(64), nullable=False),  # sha256 of the contact id: no identifier is kept
    Column("erased_at", BigInteger, nullable=False),
    Column("operator", String(128), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("conversations", Integer, nullable=False),
    Column("messages", Integer, nullable=False),
    Column("forced", Boolean, nullable=False, default=False),
)


#: SQLite's search row id: `updated_at` (ms) above these bits, a tie number below them (one per
#: conversation updated in the same millisecond, in the order the record took them).
SEARCH_ORDER_BITS = 20


def search_order(updated_at: int, tie: int) -> int:
    if not 0 <= tie < 1 << SEARCH_ORDER_BITS:
        raise ValueError(f"more than {1 << SEARCH_ORDER_BITS} conversations updated in one millisecond")
    return updated_at << SEARCH_ORDER_BITS | tie


def conversation_num(conversation_id: str) -> int:
    """A stable integer for a conversation id "<partition>-<seq>" (the search index's row id)."""
    partition, _, seq = conversation_id.partition("-")
    return int(partition) << 40 | int(seq)
