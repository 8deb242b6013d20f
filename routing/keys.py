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


# --- inbound ---------------------------------------------------------------------------------
def inbound_stream(partition: int) -> str:
    return f"{partition_prefix(partition)}:in"


def stream_partition(stream: str) -> int:
    """The partition a partition-tagged key (`hl:{p3}:...`) belongs to."""
    return int(stream.split("{p", 1)[1].split("}", 1)[0])


def partition_owner(partition: int) -> str:
    """The router that owns the partition now: "<epoch>|<consumer>", its fencing token (a lease
    with a TTL; the conversation scripts compare it with the caller's token)."""
    return f"{partition_prefix(partition)}:owner"


def partition_epoch(partition: int) -> str:
    """Counter of the partition's owners: each new lease gets a token never used before."""
    return f"{partition_prefix(partition)}:owner-epoch"


def routers() -> str:
    """Sorted set of live router consumers scored by when their membership expires (ms)."""
    return f"{PREFIX}:routers"


def seen(partition: int, dedupe_id: str) -> str:
    """Marker that a platform message was ingested (expires after the dedupe window).
    (The ingest script builds it as partition_prefix + ":seen:" + id.)"""
    return f"{partition_prefix(partition)}:seen:{dedupe_id}"


def dead_letters(partition: int) -> str:
    return f"{partition_prefix(partition)}:dead"


# --- conversations (partition of their thread) ------------------------------------------------
def conversation_partition(conversation_id: str) -> int:
    """Conversation ids are "<partition>-<seq>"; the partition names their slot."""
    head, _, _ = conversation_id.partition("-")
    return int(head)


def conversation_seq(partition: int) -> str:
    """Counter of the partition's conversation ids. (Built by the threading script.)"""
    return f"{partition_prefix(partition)}:conv-seq"


def thread(partition: int, platform: str, account: str, thread_key: str) -> str:
    """The thread's current conversation id."""
    return f"{partition_prefix(partition)}:thread:{platform}:{account}:{thread_key}"


def conversation(conversation_id: str) -> str:
    return f"{partition_prefix(conversation_partition(conversation_id))}:conv:{conversation_id}"


def messages(conversation_id: str) -> str:
    """Sorted set of message JSON scored by ingest order: history stays in order."""
    return f"{conversation(conversation_id)}:messages"


def events(conversation_id: str) -> str:
    return f"{conversation(conversation_id)}:events"


def archiver_clock(shard: int) -> str:
    """A number archiver `shard` raises every second (`Archiver.keep_counters`): Redis holding a
    lower one was restored from an older snapshot (or emptied) under it."""
    return f"{PREFIX}:archiver:{shard}:clock"


def changes(partition: int) -> str:
    """The partition's change stream (an outbox): every script that changes a conversation or a
    reply's delivery appends the ids it changed, in the same atomic call; the archiver consumes
    it into the SQL record. (The scripts build it as partition prefix + ":changes".)"""
    return f"{partition_prefix(partition)}:changes"


def conversations_by_update(partition: int) -> str:
    """Index of the partition's conversations by last update (the inbox merges partitions)."""
    return f"{partition_prefix(partition)}:idx:updated"


# --- outbound (partition of the thread they answer) -------------------------------------------
def outbound_stream(partition: int, platform: str, account: str) -> str:
    return f"{partition_prefix(partition)}:out:{platform}:{account}"


def outbound_delayed(partition: int, platform: str, account: str) -> str:
    """Replies waiting out a rate limit: sorted set scored by the time they may go."""
    return f"{partition_prefix(partition)}:out-delayed:{platform}:{account}"


def delivery(partition: int, reply_id: str) -> str:
    """Idempotency record and delivery status of one reply."""
    return f"{partition_prefix(partition)}:reply:{reply_id}"


def reply_order(conversation_id: str) -> str:
    """The conversation's replies not yet final (their delivery keys), scored by the order they
    were written: only the first may be posted. (The scripts build it as the conversation key +
    ":out".)"""
    return f"{conversation(conversation_id)}:out"


def reply_seq(partition: int) -> str:
    """Counter giving each queued reply of the partition its place (`reply_order` scores)."""
    return f"{partition_prefix(partition)}:out-seq"


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


def unconfirmed_claims() -> str:
    """Claims not yet seen in their conversation, scored by claim time (ms): a claim is written
    before the commit that records it, so the janitor gives back the slot of one whose commit
    never came (`queueing.release_orphan_claims`)."""
    return f"{PREFIX}:{{asg}}:claims"


def queue_outbox(partition: int) -> str:
    """Queue entries committed with their conversation, not yet copied to the team queue."""
    return f"{partition_prefix(partition)}:queue-outbox"


def team_queue(team: str) -> str:
    """Conversations waiting for an agent of the team, scored by priority then age."""
    return f"{PREFIX}:{{asg}}:queue:{team}"


def private_move(contact_id: str) -> str:
    """The public conversation whose customer was invited to write privately (to link them)."""
    return f"{PREFIX}:private-move:{contact_id}"


# --- live updates, leases, cursors, rate limits ------------------------------------------------
def live_channel() -> str:
    return f"{PREFIX}:live"


def lease(name: str) -> str:
    return f"{PREFIX}:lease:{name}"


def heartbeat(process_id: str) -> str:
    """One process's heartbeat (JSON): gone when the process stops renewing it."""
    return f"{PREFIX}:hb:{process_id}"


def heartbeats() -> str:
    """The ids of processes that wrote a heartbeat (readers drop ids whose heartbeat expired)."""
    return f"{PREFIX}:hb-index"


def cursor(platform: str, account: str, name: str) -> str:
    return f"{PREFIX}:cursor:{platform}:{account}:{name}"


def connector_state(platform: str, account: str, name: str) -> str:
    """A connector's own small state (e.g. which thread a posted status belongs to)."""
    return f"{PREFIX}:cstate:{platform}:{account}:{name}"


def rate_limit(platform: str, account: str, name: str) -> str:
    """A shared budget; one account's budgets share a slot so one script checks them all."""
    return f"{PREFIX}:{{rl:{platform}:{account}}}:{name}"


def blocked_until(platform: str, account: str) -> str:
    """Set when the platform answered 429 or was unreachable: no sender posts for the account
    before it expires."""
    return f"{PREFIX}:blocked:{platform}:{account}"


def send_backoff(platform: str, account: str) -> str:
    """Consecutive transient failures of the account's posts (the exponent of its back-off)."""
    return f"{PREFIX}:backoff:{platform}:{account}"


# --- web chat: one slot per chat ({wc:<account>:<chat>}) so its scripts stay in one cluster slot
def webchat_events(account: str, chat: str) -> str:
    """Stream of one chat's events (visitor, bot and agent messages); its ids are what the widget
    resumes from."""
    return f"{PREFIX}:{{wc:{account}:{chat}}}:events"


def webchat_signals(account: str, chat: str) -> str:
    """Stream of one chat's passing signals (an agent is typing): a few, for a minute, never resumed."""
    return f"{PREFIX}:{{wc:{account}:{chat}}}:signals"


def webchat_posted(account: str, chat: str) -> str:
    """Hash: id of what was appended (a reply id, a visitor message id) -> its event id, so a
    retried post appends nothing twice."""
    return f"{PREFIX}:{{wc:{account}:{chat}}}:posted"


def webchat_chat(account: str, chat: str) -> str:
    """Hash of one chat: the visitor who owns it."""
    return f"{PREFIX}:{{wc:{account}:{chat}}}:chat"


def webchat_session(account: str, token_hash: str) -> str:
    """A visitor token (by its hash) -> the visitor it identifies."""
    return f"{PREFIX}:wc-session:{account}:{token_hash}"


def webchat_visitor_chats(account: str, visitor: str) -> str:
    """Sorted set of a visitor's chats by last activity (the widget's history list)."""
    return f"{PREFIX}:wc-chats:{account}:{visitor}"


def portal_feedback(day: str) -> str:
    """Hash of one day's help-center votes: fields "yes|<key>:<lang>" / "no|<key>:<lang>"."""
    return f"{PREFIX}:portal:feedback:{day}"


def kb_examples() -> str:
    """Hash of example id -> JSON: customers' phrasings proposed for, approved or rejected as, an
    article's (`bots/examples.py`)."""
    return f"{PREFIX}:kb:examples"


def kb_examples_version() -> str:
    """Counter raised whenever the approved examples change (bots reload them when it moves)."""
    return f"{PREFIX}:kb:examples:version"


# --- consumer groups ---------------------------------------------------------------------------
ROUTER_GROUP = "router"
SENDER_GROUP = "sender"
ARCHIVER_GROUP = "archiver"


# --- console (agent inbox: accounts, sessions, tokens, canned responses, contact links) --------
def console_user(username: str) -> str:
    return f"{PREFIX}:console:user:{username}"


def console_users() -> str:
    """Set of console usernames."""
    return f"{PREFIX}:console:users"


def console_session(session_id_hash: str) -> str:
    """A login session, named by the sha256 of its cookie value (the cookie never sits in Redis)."""
    return f"{PREFIX}:console:session:{session_id_hash}"


def console_token(token_hash: str) -> str:
    """An API token, named by the sha256 of the token."""
    return f"{PREFIX}:console:token:{token_hash}"


def console_tokens() -> str:
    """Hash of token id -> token hash (to list and revoke tokens without knowing them)."""
    return f"{PREFIX}:console:tokens"


def console_tokens_used() -> str:
    """Hash of token id -> when it last authenticated a request (ms since the epoch)."""
    return f"{PREFIX}:console:tokens:used"


def console_login_failures(scope: str, value: str) -> str:
    """Failed logins in the current window, per username or per client address."""
    return f"{PREFIX}:console:login-fail:{scope}:{value}"


def console_watchers(conversation_id: str) -> str:
    """Sorted set of who views or types in a conversation now (member JSON [kind, username, name],
    score the ms it expires at); the key itself expires with its last member."""
    return f"{PREFIX}:console:watchers:{conversation_id}"


def console_canned() -> str:
    """Hash of canned response id -> JSON."""
    return f"{PREFIX}:console:canned"


def console_canned_seeded() -> str:
    """Set once the demo's canned responses were added (kept, like the responses themselves)."""
    return f"{PREFIX}:console:canned-seeded"


def console_contact_links(contact_id: str) -> str:
    """Set of contact ids linked to this one (the same person on other channels)."""
    return f"{PREFIX}:console:links:{contact_id}"


def console_seen(username: str) -> str:
    """Hash of conversation id -> ms the user last opened it (unread marks)."""
    return f"{PREFIX}:console:seen:{username}"


def console_snoozed() -> str:
    """Sorted set of snoozed conversation ids scored by the ms they wake up."""
    return f"{PREFIX}:console:snoozed"


def console_reply_claim(reply_id: str) -> str:
    """Short-lived claim so two identical agent replies in flight record one event."""
    return f"{PREFIX}:console:reply-claim:{reply_id}"


# --- insights (reports, SLA) ---------------------------------------------------------------------
# Additive section owned by `insights/`. Aggregates share the `{ins}` hash tag so the recorder's
# one script (cursor + counters) stays inside one Redis Cluster slot; the scripts build these same
# names by concatenation from `insights_prefix()` (tests check they agree). SLA "fired" markers
# live in the conversation's partition slot instead, next to the fields they change.
def insights_prefix() -> str:
    return f"{PREFIX}:{{ins}}"


def insights_counters(day: str, scope: str, dim: str) -> str:
    """Hash of one day's counters for one filter scope and one breakdown dimension.
    Fields are "<metric>|<dimension value>"."""
    return f"{insights_prefix()}:c:{day}:{scope}:{dim}"


def insights_histograms(day: str, scope: str) -> str:
    """Hash of one day's latency histograms for one scope: fields "<metric>|<bucket index>"."""
    return f"{insights_prefix()}:h:{day}:{scope}"


def insights_scopes(day: str) -> str:
    """Set of the scopes that have data on a day (to enumerate platforms, teams, languages)."""
    return f"{insights_prefix()}:scopes:{day}"


INSIGHTS_WEEK = "W"  # a week rollup is named "W" + its Monday's "YYYYMMDD" where a day's name goes


def insights_units() -> str:
    """Hash of the days ("YYYYMMDD" -> 1) and weeks ("W" + the Monday's "YYYYMMDD" -> 1 while its
    rollup is whole, 0 once retention cut into it) that have report cells, and "from": the first
    day since which every day with cells is listed here (the reader's index)."""
    return f"{insights_prefix()}:units"


def insights_backlog(scope: str) -> str:
    """Live backlog gauges of one scope: fields "<gauge>|<dimension>|<value>"."""
    return f"{insights_prefix()}:backlog:{scope}"


def insights_backlog_scopes() -> str:
    return f"{insights_prefix()}:backlog-scopes"


def insights_state(conversation_id: str) -> str:
    """The recorder's cursor and running state for one conversation."""
    return f"{insights_prefix()}:conv:{conversation_id}"


def insights_rating(conversation_id: str) -> str:
    """The customer's satisfaction rating of a conversation (latest wins)."""
    return f"{insights_prefix()}:rating:{conversation_id}"


def insights_watermark() -> str:
    """Hash partition -> highest `idx:updated` score the recorder's scan has covered."""
    return f"{insights_prefix()}:watermark"


def insights_sla_due() -> str:
    """Sorted set of open conversations scored by their next SLA checkpoint (ms)."""
    return f"{insights_prefix()}:sla-due"


def sla_fired(conversation_id: str, checkpoint: str) -> str:
    """Marker that an SLA warning or breach fired for one target instance (set once, NX)."""
    return f"{conversation(conversation_id)}:sla:{checkpoint}"


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
