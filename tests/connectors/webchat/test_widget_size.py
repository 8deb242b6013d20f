"""The widget's size: at most 30 KB gzipped, and the size the README states is the size served."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from helpline.connectors.webchat.web import SCRIPT

README = Path(__file__).resolve().parents[3] / "README.md"
LIMIT_GZIPPED = 30 * 1024


def gzipped_kb() -> float:
    return len(gzip.compress(SCRIPT, compresslevel=9, mtime=0)) / 1000


def test_the_widget_is_at_most_30_kb_gzipped() -> None:
    assert len(gzip.compress(SCRIPT, compresslevel=9, mtime=0)) <= LIMIT_GZIPPED


def test_the_readme_states_the_widgets_size() -> None:
    stated = re.search(r"one dependency-free file \(([\d.]+) KB; \*\*([\d.]+) KB gzipped\*\*", README.read_text())
    assert stated, "README: the widget's size is stated next to the web chat's description"
    plain, packed = float(stated.group(1)), float(stated.group(2))
    assert abs(plain - len(SCRIPT) / 1000) < 0.15, f"README says {plain} KB, the widget is {len(SCRIPT) / 1000:.1f} KB"
    assert abs(packed - gzipped_kb()) < 0.15, f"README says {packed} KB gzipped, it is {gzipped_kb():.1f} KB"
