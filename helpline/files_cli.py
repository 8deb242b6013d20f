"""`helpline files migrate`: copy the files kept in the accounts' local folders into the S3
bucket `[files]` names (see connectors/files_migration.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from helpline.connectors.errors import ConfigError
from helpline.connectors.files_migration import Migration, copy_folder, local_folders
from helpline.connectors.s3files import check_bucket, s3_blobs

from .config import ConfigInvalid, load_settings

files_app = typer.Typer(help="The files customers and agents attach.", no_args_is_help=True)


@files_app.command("migrate")
def migrate_files(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="helpline.toml")] = None,
    folders: Annotated[
        list[Path] | None,
        typer.Option("--from", help="a local folder to copy (default: every account's attachments_dir)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Copy local files into the bucket of `\\[files] backend = "s3"`. Safe to run again: files
    already there are skipped. Exit 1 when a file's bytes no longer match its name."""
    try:
        settings = load_settings(config)
    except ConfigInvalid as exc:
        raise _fail("invalid configuration:\n  " + "\n  ".join(exc.problems)) from None
    if settings.files.backend != "s3":
        raise _fail('files.backend: set it to "s3" (with endpoint and bucket) to copy the local files there')
    try:
        blobs = s3_blobs(settings.files)
        asyncio.run(check_bucket(blobs))
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    roots = [f.resolve() for f in folders] if folders else local_folders(settings.accounts)
    migration = Migration()

    async def run() -> None:
        for root in roots:
            await copy_folder(root, blobs, migration)

    asyncio.run(run())
    if as_json:
        typer.echo(json.dumps({"folders": [str(r) for r in roots], **migration.as_dict()}))
    else:
        typer.echo(
            f"{migration.copied} files copied ({migration.bytes_copied} bytes), "
            f"{migration.already_there} already in bucket {blobs.bucket!r}, from {len(roots)} folders"
        )
    for path in migration.damaged:
        typer.echo(f"damaged (its bytes do not match its name), not copied: {path}", err=True)
    if migration.damaged:
        raise typer.Exit(1)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"helpline: {message}", err=True)
    return typer.Exit(2)
