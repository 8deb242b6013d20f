"""Real `helpline` processes for the health tests (started, waited for and killed by pid)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path


def env_without_helpline(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_") and k != "REDIS_URL"}
    return {**clean, **extra}


def start(tmp: Path, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`helpline <args>` in the background; its stderr goes to tmp/<name>.log."""
    return subprocess.Popen(
        [sys.executable, "-m", "helpline", *args],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"{name}.log", "wb"),
        env=env or env_without_helpline(),
    )


async def helpline(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, str]:
    """Run `helpline <args>` without blocking the event loop (emulators may be served on it)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "helpline",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env or env_without_helpline(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
