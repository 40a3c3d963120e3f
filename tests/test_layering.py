"""The domain (state/, engine, destinations, ingest, sandbox) never imports Textual, and
`state/` never imports HTTP or the console package (its neutral core `console.core` aside): checked on the source, module by module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ["state", "console/engine", "console/destinations", "console/ingest", "console/sandbox"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", DOMAIN)
def test_domain_never_imports_textual(folder: str) -> None:
    modules = _modules(folder)
    assert modules, f"{folder} has no modules"
    offenders = [
        str(p.relative_to(ROOT))
        for p in modules
        if any(n == "textual" or n.startswith("textual.") for n in _imports(p))
    ]
    assert offenders == []


def test_state_knows_nothing_of_http_or_console() -> None:
    offenders = []
    for path in _modules("state"):
        for name in _imports(path):
            top = name.split(".")[0]
            neutral = name == "console.core" or name.startswith("console.core.")
            if top in {"httpx", "textual", "console"} and not neutral:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_destinations_never_touch_sql() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in _modules("console/destinations")
        if any(n.split(".")[0] in {"sqlalchemy", "sqlmodel"} for n in _imports(p))
    ]
    assert offenders == []


def test_destinations_never_import_the_store() -> None:
    """Kinds read nothing from the store: the engine hands planners their rows."""
    offenders = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _modules("console/destinations")
        for name in _imports(p)
        if name == "state" or name.startswith("state.")
    ]
    assert offenders == []


def test_state_never_imports_the_kinds() -> None:
    """The store keeps settings as JSON text; only the console parses them by kind."""
    offenders = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _modules("state")
        for name in _imports(p)
        if name.startswith("console.destinations")
    ]
    assert offenders == []
