"""The layers point down: `routing` imports nothing above it, and no two packages import each
other (directly or around a loop). Read from the source, every import statement at any depth
(inside functions and under TYPE_CHECKING too: a lazy import is still a dependency)."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "base",
    "routing",
    "connectors",
    "bots",
    "announcements",
    "insights",
    "portal",
    "console",
    "archive",
    "health",
)
TOP = "helpline"  # the composition root: cli, runtime, assembly, config, demo, bench
FORBIDDEN_FOR_ROUTING = {"connectors", "bots", "announcements", "insights", "portal", "console", "archive", TOP}
# The top folder holds the composition root (cli, runtime, assembly) but also the config and what
# the console and the archive still take from it (the help-center bot's setup, the config): those
# two are left out of the check below, and the top is left out of the cycle check.
BELOW_THE_TOP = ("base", "routing", "connectors", "bots", "announcements", "insights", "portal", "health")


def _package_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if rel.parts[0] in PACKAGES else TOP


def _sources() -> list[Path]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    return files + sorted((ROOT / TOP).glob("*.py"))


def _imported_packages(path: Path) -> set[str]:
    """The packages a module imports (relative imports stay in its own package)."""
    own = _package_of(path)
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                out.add(own)
                continue
            names = [node.module or ""]
            if node.module == "helpline":  # from helpline import routing
                names = [f"helpline.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "helpline":
                continue
            out.add(parts[1] if len(parts) > 1 and parts[1] in PACKAGES else TOP)
    return out


def _graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the modules that import it."""
    graph: dict[str, dict[str, list[str]]] = {p: {} for p in (*PACKAGES, TOP)}
    for path in _sources():
        rel = str(path.relative_to(ROOT))
        source = _package_of(path)
        for target in _imported_packages(path) - {source}:
            graph[source].setdefault(target, []).append(rel)
    return graph


def test_routing_imports_nothing_above_it() -> None:
    graph = _graph()
    wrong = {t: graph["routing"][t] for t in FORBIDDEN_FOR_ROUTING & set(graph["routing"])}
    assert not wrong, f"routing imports packages above it: {wrong}"


def test_base_imports_nothing_of_helpline() -> None:
    assert not _graph()["base"], _graph()["base"]


def test_the_features_do_not_import_the_composition_root() -> None:
    """The `helpline` command line and runtime compose the packages; a package takes what it
    needs of the configuration as arguments."""
    graph = _graph()
    wrong = {p: graph[p][TOP] for p in BELOW_THE_TOP if TOP in graph[p]}
    assert not wrong, f"packages import the composition root: {wrong}"


def test_no_import_cycle_between_packages() -> None:
    graph = _graph()
    del graph[TOP]
    for imported in graph.values():
        imported.pop(TOP, None)

    def cycle_from(start: str) -> list[str] | None:
        stack, on_path = [(start, iter(graph[start]))], [start]
        while stack:
            _node, children = stack[-1]
            nxt = next(children, None)
            if nxt is None:
                stack.pop()
                on_path.pop()
            elif nxt in on_path:
                return [*on_path[on_path.index(nxt) :], nxt]
            else:
                stack.append((nxt, iter(graph[nxt])))
                on_path.append(nxt)
        return None

    cycles = [c for p in graph if (c := cycle_from(p))]
    detail = [{f"{a}->{b}": graph[a][b][:3] for a, b in itertools.pairwise(c)} for c in cycles]
    assert not cycles, f"package import cycles: {detail}"


def test_the_bus_router_and_sender_load_no_web_bot_connector_or_metrics_library() -> None:
    probe = (
        "import sys\n"
        "import helpline.routing.bus\n"
        "bus = {m for m in ('fastapi', 'starlette', 'prometheus_client') if m in sys.modules}\n"
        "import helpline.routing.router\n"
        "router = {m for m in ('telegram', 'lingua', 'fastapi', 'prometheus_client') if m in sys.modules}\n"
        "import helpline.routing.sender\n"
        "sender = {m for m in ('helpline.connectors', 'helpline.insights', 'prometheus_client', 'httpx')\n"
        "          if m in sys.modules}\n"
        "print(sorted(bus), sorted(router), sorted(sender))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] [] []", out
