"""Errors of the record.

RecordError
 ├── RecordConfigError   the [database] settings are wrong (names the field)
 │    └── RecordMissing  the SQLite file database.url names is not there (and is not made)
 ├── RecordUnavailable   the database cannot be reached or refused the work (retry later);
 │                       says the URL (password masked) and the driver's reason
 └── ErasureRefused      an erasure would remove an open conversation (use force)
"""

from __future__ import annotations


class RecordError(Exception):
    pass


class RecordConfigError(RecordError):
    pass


class RecordMissing(RecordConfigError):
    pass


class RecordUnavailable(RecordError):
    pass


class ErasureRefused(RecordError):
    pass
