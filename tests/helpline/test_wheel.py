"""The built wheel installs into a fresh virtualenv beside other projects' `routing` and `console`
packages, and `helpline demo` starts from it (no source checkout: the demo knowledge base is
package data).

Bounded for `make test`: the fresh virtualenv borrows the third-party dependencies of the test's
own environment through a path entry (so nothing is downloaded), while Helpline itself comes only
from the wheel. `make wheel-check` runs the same test with HELPLINE_WHEEL_FROM_INDEX=1, installing
every dependency from the package index into the fresh virtualenv as a user would.
"""

from __future__ import annotations

import os
import shutil
import signal
import site
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from helpline.connectors.emulation import free_port

ROOT = Path(__file__).resolve().parents[2]
FROM_INDEX = os.environ.get("HELPLINE_WHEEL_FROM_INDEX") == "1"
JUNK = shutil.ignore_patterns(
    ".venv", ".git", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "tests", "docs"
)

pytestmark = pytest.mark.timeout(900 if FROM_INDEX else 240)
# A fresh install sees no source tree: a PYTHONPATH naming a checkout (as when the tests run
# from a worktree) would put its `routing` folder before the other project's `routing`.
FRESH_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def run(*args: str | Path, cwd: Path | None = None, timeout: float = 180) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=FRESH_ENV, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


def other_project(where: Path, name: str) -> Path:
    """A distribution of someone else's top-level package `name`."""
    (where / name).mkdir(parents=True)
    (where / name / "__init__.py").write_text(f'WHO = "the other {name}"\n')
    (where / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "1.0"\n[tool.setuptools]\npackages = ["{name}"]\n'
    )
    return where


def build_wheel(source: Path) -> Path:
    out = source.parent / f"{source.name}-dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", out, source)
    [wheel] = out.glob("*.whl")
    return wheel


def test_the_wheel_installs_beside_routing_and_console_and_runs_the_demo(tmp_path: Path) -> None:
    started = time.monotonic()
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=JUNK)
    wheel = build_wheel(source)
    others = [build_wheel(other_project(tmp_path / name, name)) for name in ("routing", "console")]
    elsewhere = tmp_path / "elsewhere"  # runs happen away from any source tree
    elsewhere.mkdir()
    built = time.monotonic()

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--python", python, "install", "--quiet")
    if FROM_INDEX:
        run(*pip, *others, wheel, timeout=800)
    else:  # the dependencies already installed here, but not Helpline: a bare path entry runs no .pth
        purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
        Path(purelib, "borrowed-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
        run(*pip, "--no-deps", *others, wheel)
    installed = time.monotonic()

    probe = (
        "import routing, console, helpline, helpline.routing.keys, helpline.console.app, helpline.demo as d;"
        "print(routing.WHO, '|', console.WHO, '|', helpline.__file__, '|', d.DEMO_KB.is_dir())"
    )
    who = run(python, "-c", probe, cwd=elsewhere).strip().split(" | ")
    assert who[:2] == ["the other routing", "the other console"]
    assert who[2].startswith(str(venv)) and who[3] == "True"  # Helpline and its demo KB from the wheel

    port = free_port()
    demo = subprocess.Popen(
        [venv / "bin" / "helpline", "demo", "--port", str(port), "--data-dir", tmp_path / "demo", "--interval", "3600"],
        cwd=elsewhere,
        env=FRESH_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and demo.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code
                if status == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert status == 200, f"the demo did not serve its console: {demo.poll()}"
        ready = time.monotonic()
    finally:
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=60)
    assert demo.returncode in (0, 130), output[-3000:]
    assert "Traceback" not in output
    print(
        f"wheel built in {built - started:.1f}s, installed in {installed - built:.1f}s, "
        f"demo serving after {ready - installed:.1f}s"
    )
