"""axe-core, the accessibility engine, from the npm registry: installed once by the test setup into
the user's cache (a pinned version; npm checks the package's integrity) and injected into pages."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from playwright.async_api import Page

AXE_VERSION = "4.10.3"
# What is checked: WCAG 2.1 A and AA and axe's best practices (landmarks, skip links, headings).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_script() -> Path:
    """axe.min.js of the pinned version, installed with npm when not cached yet."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "helpline" / f"axe-core-{AXE_VERSION}"
    script = cache / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("the accessibility tests need npm (Debian: apt-get install npm) to install axe-core")
        subprocess.run(
            [
                npm,
                "install",
                "--no-save",
                "--no-package-lock",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--prefix",
                str(cache),
                f"axe-core@{AXE_VERSION}",
            ],
            check=True,
            timeout=300,
            capture_output=True,
        )
    return script


async def serious_violations(page: Page) -> list[str]:
    """axe's serious and critical findings on the page as it is now, one line each (rule, impact,
    the elements). The page's context must bypass the CSP, which forbids injected scripts."""
    await page.add_script_tag(path=str(axe_script()))
    result: dict[str, Any] = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", TAGS
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(_node(n) for n in v["nodes"][:8])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _node(node: dict[str, Any]) -> str:
    """An offending element and why (axe's first finding about it: the measured contrast, say)."""
    why = [str(check.get("message") or "") for check in (node.get("any") or []) + (node.get("all") or [])]
    return f"{node['target']} {why[0] if why else ''}".strip()
