"""Moving the files a desk kept in local folders (`backend = "local"`, each account's
`attachments_dir`) into the bucket `[files]` names, for a desk that switches to `backend = "s3"`.

Resumable and idempotent: a file already in the bucket with the same size is left alone, so the
copy can be run again after an interruption, and once more after the switch for files that
arrived meanwhile. Each file's bytes are checked against its name (its SHA-256) before they are
copied: a damaged file is reported, never copied under a name it no longer matches. The local
files are not deleted (remove them once the console serves them from the bucket)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .base import AccountSettings
from .files import Blobs, FileOptions

_STORED = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Migration:
    copied: int = 0
    already_there: int = 0
    bytes_copied: int = 0
    damaged: list[str] = field(default_factory=list)  # paths whose bytes do not match their name

    def as_dict(self) -> dict[str, object]:
        return {
            "copied": self.copied,
            "already_there": self.already_there,
            "bytes_copied": self.bytes_copied,
            "damaged": self.damaged,
        }


def local_folders(accounts: Iterable[AccountSettings]) -> list[Path]:
    """The folders the accounts keep files in under the local backend, each once (the accounts
    share the default folder unless their `attachments_dir` says otherwise)."""
    folders: dict[Path, None] = {}
    for account in accounts:
        folder = account.options.get("attachments_dir", FileOptions.model_fields["attachments_dir"].default)
        folders[Path(str(folder)).resolve()] = None
    return list(folders)


def stored_files(root: Path) -> Iterator[Path]:
    """The files a local store holds: `<root>/<first two hex digits>/<sha256>` (temporary files of
    an interrupted write, named `.<sha256>.<pid>.tmp`, are not files of the store)."""
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if _STORED.match(path.name) and path.name[:2] == folder.name and path.is_file():
                yield path


async def copy_folder(root: Path, target: Blobs, migration: Migration) -> None:
    for path in stored_files(root):
        file_id = path.name
        if await target.size(file_id) == path.stat().st_size:
            migration.already_there += 1
            continue
        data = await asyncio.to_thread(path.read_bytes)
        if hashlib.sha256(data).hexdigest() != file_id:
            migration.damaged.append(str(path))
            continue
        await target.put(file_id, data)
        migration.copied += 1
        migration.bytes_copied += len(data)
