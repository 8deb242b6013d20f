"""`helpline files migrate`: a desk that kept files in local folders switches to an S3 bucket and
copies them there, through the real command and a real S3-compatible server; run again it copies
nothing, and a damaged file is reported, not copied."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from helpline.connectors.files import LocalBlobs
from helpline.connectors.files_migration import stored_files
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server


def migrate(cfg: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env |= {"HELPLINE_S3_ACCESS_KEY": ACCESS_KEY, "HELPLINE_S3_SECRET_KEY": SECRET_KEY}
    return subprocess.run(
        [sys.executable, "-m", "helpline", "files", "migrate", "-c", str(cfg), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
    )


def test_local_files_are_copied_to_the_bucket_once(tmp_path: Path, s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    files = {b"a photo of the error": "var/attachments", b"%PDF- a statement": "var/attachments", b"x" * 70_000: "mail"}
    for data, folder in files.items():
        asyncio.run(LocalBlobs(tmp_path / folder).put(hashlib.sha256(data).hexdigest(), data))
    damaged = tmp_path / "mail" / "ab" / ("ab" + "0" * 62)
    damaged.parent.mkdir(parents=True, exist_ok=True)
    damaged.write_bytes(b"not what the name says")
    (tmp_path / "mail" / "ab" / ".ab12.123.tmp").write_bytes(b"half a write")  # not a stored file
    cfg = tmp_path / "helpline.toml"
    cfg.write_text(
        f'[files]\nbackend = "s3"\nendpoint = "{s3_server.endpoint}"\nbucket = "{bucket}"\nregion = "us-east-1"\n\n'
        '[[accounts]]\nplatform = "telegram"\nname = "tg"\nsecrets = { token = "TG_TOKEN" }\n\n'
        '[[accounts]]\nplatform = "telegram"\nname = "tg2"\nsecrets = { token = "TG_TOKEN" }\n'
        'options = { attachments_dir = "mail" }\n'
    )
    first = migrate(cfg, tmp_path)
    assert first.returncode == 1, first.stderr  # the damaged file
    report = json.loads(first.stdout)
    assert (report["copied"], report["already_there"], report["bytes_copied"]) == (3, 0, sum(map(len, files)))
    assert report["damaged"] == [str(damaged)] and str(damaged) in first.stderr
    assert len(report["folders"]) == 2  # the two accounts' folders, the shared default once
    client = s3_server.client()
    for data in files:
        key = f"attachments/{hashlib.sha256(data).hexdigest()[:2]}/{hashlib.sha256(data).hexdigest()}"
        assert client.get_object(bucket, key).read() == data
    assert len(s3_server.keys(bucket)) == 3

    damaged.unlink()
    again = migrate(cfg, tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) | {"folders": []} == {
        "folders": [],
        "copied": 0,
        "already_there": 3,
        "bytes_copied": 0,
        "damaged": [],
    }


def test_a_desk_still_on_local_files_is_told_what_to_set(tmp_path: Path) -> None:
    cfg = tmp_path / "helpline.toml"
    cfg.write_text("")
    result = migrate(cfg, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert 'files.backend: set it to "s3"' in result.stderr


def test_only_the_stores_files_are_listed(tmp_path: Path) -> None:
    name = "cd" + "1" * 62
    (tmp_path / "cd").mkdir()
    (tmp_path / "cd" / name).write_bytes(b"1")
    (tmp_path / "cd" / f".{name}.7.tmp").write_bytes(b"1")
    (tmp_path / "ef").mkdir()
    (tmp_path / "ef" / name).write_bytes(b"1")  # under the wrong folder
    (tmp_path / "README").write_text("not a folder of the store")
    assert list(stored_files(tmp_path)) == [tmp_path / "cd" / name]
    assert list(stored_files(tmp_path / "missing")) == []
