"""How Telegram chats and messages are named in Helpline's wire models.

Pure functions. A thread key names where a reply goes; a message id names what it answers:

- private chat: thread ``chat:<chat_id>``
- group member: thread ``chat:<chat_id>:user:<user_id>`` (each customer in a group is their own
  conversation, answered in the group as a reply to their message)
- message ``<chat_id>:<message_id>``; an edit ``<chat_id>:<message_id>:e<edit_date>`` (a new id
  per edit, so each edit is ingested once); a button press ``<chat_id>:<message_id>:cb`` where
  the message is the one carrying the keyboard: one answer per keyboard, so a double tap (two
  callback queries) is ingested once.
- a button's callback data in a group thread ``<data>|<user_id>``: whose answer the keyboard is,
  so a press by anyone else in the group is not taken as that person's (or as a new) question.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpline.connectors.errors import Permanent


@dataclass(frozen=True)
class ThreadRef:
    chat_id: int
    user_id: int | None = None  # set for a group thread

    @property
    def is_private_chat(self) -> bool:
        # Telegram: user (private chat) ids are positive; group, supergroup and channel ids negative.
        return self.chat_id > 0


def private_thread(chat_id: int) -> str:
    return f"chat:{chat_id}"


def group_thread(chat_id: int, user_id: int) -> str:
    return f"chat:{chat_id}:user:{user_id}"


def parse_thread(thread_key: str) -> ThreadRef:
    parts = thread_key.split(":")
    try:
        if len(parts) == 2 and parts[0] == "chat":
            return ThreadRef(int(parts[1]))
        if len(parts) == 2 and parts[0] == "user":
            # A private follow-up to a user (routing.outbound.private_followup): in Telegram the
            # private chat with a user has the user's id; it works once they have started the bot.
            return ThreadRef(int(parts[1]))
        if len(parts) == 4 and parts[0] == "chat" and parts[2] == "user":
            return ThreadRef(int(parts[1]), int(parts[3]))
    except ValueError:
        pass
    raise Permanent(f"thread_key {thread_key!r} is not a Telegram thread (chat:<id>[:user:<id>])")


def message_ref(chat_id: int, message_id: int) -> str:
    return f"{chat_id}:{message_id}"


def edit_ref(chat_id: int, message_id: int, edit_date: int) -> str:
    return f"{chat_id}:{message_id}:e{edit_date}"


def callback_ref(chat_id: int, message_id: int) -> str:
    return f"{chat_id}:{message_id}:cb"


CALLBACK_DATA_MAX = 64  # bytes, Telegram's limit for an inline button's callback_data


def owned_callback_data(data: str, user_id: int) -> str:
    """`data` marked as meant for `user_id`; unmarked if the mark would not fit Telegram's limit
    (such a button is then taken from whoever presses it)."""
    owned = f"{data}|{user_id}"
    return owned if len(owned.encode()) <= CALLBACK_DATA_MAX else data


def callback_owner(data: str) -> tuple[str, int | None]:
    """(data, the user it is meant for) of a group button's callback data; None if unmarked."""
    head, sep, tail = data.rpartition("|")
    if sep and head and tail.isdigit():
        return head, int(tail)
    return data, None


def parse_message_ref(ref: str) -> tuple[int, int] | None:
    """(chat_id, message_id) of any id above; None if `ref` is not one of ours."""
    parts = ref.split(":")
    if len(parts) < 2:
        return None
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return None
