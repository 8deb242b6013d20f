"""Every Redis key name Helpline uses, in one place.

Keys that one thread's processing touches together carry the thread's partition in a hash tag
(`{p3}`), so a Lua script over them stays inside one Redis Cluster slot. Assignment state shares
the `{asg}` tag for the same reason. Everything else is a single key per operation.
"""

from __future__ import annotations

import zlib

PREFIX = "hl"


def partition_of(platform: str, account: str, thread_key: str, partitions: int) -> int:
    """Stable partition of a thread: every message of one thread lands in the same stream."""
    return zlib.crc32(f"{platform}\x00{account}\x00{thread_key}".encode()) % partitions


def partition_prefix(partition: int) -> str:
    """Prefix of every key of one partition; its hash tag pins them to one cluster slot."""
    return f"{PREFIX}:{{p{partition}}}"


_p = partition_prefix


# --- inbound ---------------------------------------------------------------------------------
def inbound_stream(partition: int) -> str:
    return f"{_p(partition)}:in"


def seen(partition: int, dedupe_id: str) -> str:
    """Marker that a platform message was ingested (expires after the dedupe window).
    (The ingest script builds it as partition_prefix + ":seen:" + id.)"""
    return f"{_p(partition)}:seen:{dedupe_id}"


def dead_letters(partition: int) -> str:
    return f"{_p(partition)}:dead"


# --- conversations (partition of their thread) ------------------------------------------------
def conversation_partition(conversation_id: str) -> int:
    """Conversation ids are "<partition>-<seq>"; the partition names their slot."""
    head, _, _ = conversation_id.partition("-")
    return int(head)


def conversation_seq(partition: int) -> str:
    return f"{_p(partition)}:conv-seq"


def thread(partition: int, platform: str, account: str, thread_key: str) -> str:
    """The thread's current conversation id."""
    return f"{_p(partition)}:thread:{platform}:{account}:{thread_key}"


def conversation(conversation_id: str) -> str:
    return f"{_p(conversation_partition(conversation_id))}:conv:{conversation_id}"


def messages(conversation_id: str) -> str:
    """Sorted set of message JSON scored by ingest order: history stays in order."""
    return f"{conversation(conversation_id)}:messages"


def events(conversation_id: str) -> str:
    return f"{conversation(conversation_id)}:events"


def bot_state(conversation_id: str) -> str:
    return f"{conversation(conversation_id)}:bot"


def conversations_by_update(partition: int) -> str:
    """Index of the partition's conversations by last update (the inbox merges partitions)."""
    return f"{_p(partition)}:idx:updated"


# --- outbound (partition of the thread they answer) -------------------------------------------
def outbound_stream(partition: int, platform: str, account: str) -> str:
    return f"{_p(partition)}:out:{platform}:{account}"


def outbound_delayed(partition: int, platform: str, account: str) -> str:
    """Replies waiting out a rate limit: sorted set scored by the time they may go."""
    return f"{_p(partition)}:out-delayed:{platform}:{account}"


def delivery(partition: int, reply_id: str) -> str:
    """Idempotency record and delivery status of one reply."""
    return f"{_p(partition)}:reply:{reply_id}"


# --- contacts ---------------------------------------------------------------------------------
def contact(contact_id: str) -> str:
    return f"{PREFIX}:contact:{contact_id}"


# --- agents, teams and assignment (one slot) ---------------------------------------------------
def agent(agent_id: str) -> str:
    return f"{PREFIX}:{{asg}}:agent:{agent_id}"


def agents() -> str:
    """Set of known agent ids."""
    return f"{PREFIX}:{{asg}}:agents"


def agent_load(agent_id: str) -> str:
    """Set of conversation ids assigned to the agent; its size is the agent's load."""
    return f"{PREFIX}:{{asg}}:load:{agent_id}"


def assignment(conversation_id: str) -> str:
    """The agent a conversation is assigned to (the claim's idempotency record)."""
    return f"{PREFIX}:{{asg}}:assigned:{conversation_id}"


def team_queue(team: str) -> str:
    """Conversations waiting for an agent of the team, scored by priority then age."""
    return f"{PREFIX}:{{asg}}:queue:{team}"


# --- live updates, leases, cursors, rate limits ------------------------------------------------
def live_channel() -> str:
    return f"{PREFIX}:live"


def lease(name: str) -> str:
    return f"{PREFIX}:lease:{name}"


def cursor(platform: str, account: str, name: str) -> str:
    return f"{PREFIX}:cursor:{platform}:{account}:{name}"


def connector_state(platform: str, account: str, name: str) -> str:
    """A connector's own small state (e.g. which thread a posted status belongs to)."""
    return f"{PREFIX}:cstate:{platform}:{account}:{name}"


def rate_limit(platform: str, account: str, name: str) -> str:
    """A shared budget; one account's budgets share a slot so one script checks them all."""
    return f"{PREFIX}:{{rl:{platform}:{account}}}:{name}"


def blocked_until(platform: str, account: str) -> str:
    """Set when the platform answered 429: no sender posts for the account before it expires."""
    return f"{PREFIX}:blocked:{platform}:{account}"


# --- consumer groups ---------------------------------------------------------------------------
ROUTER_GROUP = "router"
SENDER_GROUP = "sender"


# --- announcements (marketing posts, publish jobs, subscribers, incidents) ---------------------
# Everything about announcements and their delivery records shares the `{ann}` tag: publishing
# state changes (a delivery record plus its announcement's counters) are one Lua call in one slot.
def announcement_seq() -> str:
    return f"{PREFIX}:{{ann}}:seq"


def announcement(announcement_id: str) -> str:
    """Hash: the announcement document, its state, version and delivery counters."""
    return f"{PREFIX}:{{ann}}:a:{announcement_id}"


def announcements_index() -> str:
    """Sorted set of announcement ids by creation time."""
    return f"{PREFIX}:{{ann}}:index"


def announcements_due() -> str:
    """Sorted set of scheduled announcement ids by publish time (ms)."""
    return f"{PREFIX}:{{ann}}:due"


def announcements_publishing() -> str:
    """Set of announcements being published (the scheduler finishes their dispatch after a crash)."""
    return f"{PREFIX}:{{ann}}:publishing"


def announcement_delivery(announcement_id: str, delivery_id: str) -> str:
    """Idempotency record and status of one (announcement, target[, recipient]) post."""
    return f"{PREFIX}:{{ann}}:d:{announcement_id}:{delivery_id}"


def announcement_deliveries(announcement_id: str) -> str:
    """List of the announcement's delivery ids, in dispatch order."""
    return f"{PREFIX}:{{ann}}:ds:{announcement_id}"


def publish_stream(platform: str, account: str) -> str:
    """Publish jobs of one platform account, drained by the publishers."""
    return f"{PREFIX}:pub:{platform}:{account}"


def publish_delayed(platform: str, account: str) -> str:
    """Publish jobs waiting out a rate limit: sorted set scored by the time they may go."""
    return f"{PREFIX}:pub-delayed:{platform}:{account}"


def publish_dead_letters(platform: str, account: str) -> str:
    return f"{PREFIX}:pub-dead:{platform}:{account}"


def subscribers(platform: str, account: str) -> str:
    """Set of chat ids opted in to the account's broadcasts."""
    return f"{PREFIX}:subs:{platform}:{account}"


def incident_seq() -> str:
    return f"{PREFIX}:{{inc}}:seq"


def incident(incident_id: str) -> str:
    return f"{PREFIX}:{{inc}}:i:{incident_id}"


def incidents_open() -> str:
    """Set of open incident ids."""
    return f"{PREFIX}:{{inc}}:open"


def incidents_index() -> str:
    """Sorted set of every incident id by opening time."""
    return f"{PREFIX}:{{inc}}:index"


def incident_conversations(incident_id: str) -> str:
    """Set of conversation ids linked to the incident."""
    return f"{PREFIX}:{{inc}}:conv:{incident_id}"


PUBLISHER_GROUP = "publisher"
