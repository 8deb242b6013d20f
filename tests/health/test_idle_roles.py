"""A role with nothing to read (a publisher when no account publishes, a sender without accounts)
idles instead of spinning, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.health.procs import start, stop
from tests.redis_server import RedisServer


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("roles", [("publisher",), ("sender",)])
def test_a_role_with_nothing_to_do_idles_and_stops_on_sigterm(
    tmp_path: Path, own_redis: RedisServer, roles: tuple[str, ...]
) -> None:
    cfg = tmp_path / "helpline.toml"
    cfg.write_text(f'[redis]\nurl = "{own_redis.url}"\npartitions = 2\n')  # no account publishes or sends
    proc = start(tmp_path, "role", "run", "-c", str(cfg), *[a for r in roles for a in ("--role", r)])
    try:
        time.sleep(12)  # start-up (imports) is done well within this on a loaded machine
        assert proc.poll() is None, (tmp_path / "role.log").read_text()
        before = cpu_seconds(proc.pid)
        time.sleep(4)
        used = cpu_seconds(proc.pid) - before
        assert used < 1.0, f"{roles}: {used:.2f} s of CPU in 4 s while idle"
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{roles}: ignored SIGTERM")
        assert rc == 0
    finally:
        stop(proc)
