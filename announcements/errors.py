"""Errors of the announcements package.

AnnouncementError
 ├── NotFound            no announcement / incident with that id
 ├── InvalidTransition   the action is not allowed in the current state (names both)
 ├── Conflict            someone else changed it meanwhile (reload and retry)
 └── Refused             the text cannot be published as is (names the platform and why)
"""

from __future__ import annotations


class AnnouncementError(Exception):
    pass


class NotFound(AnnouncementError):
    pass


class InvalidTransition(AnnouncementError):
    pass


class Conflict(AnnouncementError):
    pass


class Refused(AnnouncementError):
    pass
