"""Console roles and what each may do, as pure functions of data.

- agent: conversations of their teams or assigned to them; acts on those.
- supervisor: every conversation, reassigning, canned responses, reports.
- marketing: announcements only; never a private conversation, never a conversation action.
- admin: everything, plus users and API tokens for anyone.

Every user holds API tokens of their own, with their role or a lesser one (`may_delegate`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from helpline.routing.models import Conversation, Visibility


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    MARKETING = "marketing"
    ADMIN = "admin"

    @property
    def is_routing_agent(self) -> bool:
        """Agents and supervisors answer customers, so they are in the routing roster."""
        return self in (Role.AGENT, Role.SUPERVISOR)


# A token may carry its owner's role or a lesser one; marketing is beside the ladder.
_LADDER = {Role.MARKETING: 0, Role.AGENT: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}


def may_delegate(owner: Role, wanted: Role) -> bool:
    """May a user create a token with `wanted` role? Never more than they have."""
    if owner is Role.ADMIN:
        return True
    if wanted is Role.MARKETING or owner is Role.MARKETING:
        return wanted is owner
    return _LADDER[wanted] <= _LADDER[owner]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a logged-in user or an API token acting for one."""

    username: str
    role: Role
    name: str
    teams: tuple[str, ...] = ()
    via: str = "session"  # "session" or "token"
    csrf: str | None = None  # the session's CSRF token (None for bearer tokens)

    @property
    def actor(self) -> str:
        return f"agent:{self.username}"

    @property
    def sees_all(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)

    @property
    def manages(self) -> bool:
        """Supervisors and admins: reassign anyone's conversation, edit canned responses."""
        return self.role in (Role.SUPERVISOR, Role.ADMIN)


#: The product's pages and whose navigation shows them, in order. A link is shown only to roles
#: whose requests the route accepts (each route enforces its roles itself; tests/console/test_shell.py
#: checks every link shown answers 200). Agents may still read announcements: not their page.
PAGES: tuple[tuple[str, str, frozenset[Role]], ...] = (
    ("Inbox", "/", frozenset(Role)),
    ("Reports", "/reports", frozenset({Role.SUPERVISOR, Role.ADMIN})),
    ("Examples", "/examples", frozenset({Role.SUPERVISOR, Role.ADMIN})),
    ("Canned", "/canned", frozenset({Role.SUPERVISOR, Role.ADMIN})),
    ("Announcements", "/announcements", frozenset({Role.MARKETING, Role.SUPERVISOR, Role.ADMIN})),
    ("Users", "/users", frozenset({Role.ADMIN})),
    ("API tokens", "/tokens", frozenset(Role)),  # everyone their own; admins everyone's
)


def nav(who: Principal) -> list[tuple[str, str]]:
    """(label, path) of each page `who` may open."""
    return [(label, path) for label, path, roles in PAGES if who.role in roles]


def can_view(who: Principal, conv: Conversation) -> bool:
    if who.sees_all:
        return True
    if who.role is Role.MARKETING:
        return conv.visibility is Visibility.PUBLIC
    return conv.assignee == who.username or (conv.team is not None and conv.team in who.teams)


def can_see_contact(who: Principal, contact_id: str, convs: Iterable[Conversation]) -> bool:
    """Supervisors and admins see every contact; others a contact with a conversation (among
    `convs`, which must include the contact's recent ones) that they may see."""
    return who.sees_all or any(c.contact_id == contact_id and can_view(who, c) for c in convs)


def can_act(who: Principal, conv: Conversation) -> bool:
    """Reply, note, label, status changes: anyone who may see it, except marketing."""
    return who.role is not Role.MARKETING and can_view(who, conv)


def can_assign(who: Principal, conv: Conversation) -> bool:
    """Agents take unassigned conversations or hand on their own; supervisors reassign any."""
    if not can_act(who, conv):
        return False
    if who.manages:
        return True
    return conv.assignee in (None, who.username)
