"""The domain (state/, engine, destinations, ingest, sandbox) never imports Textual;
`state/` never imports HTTP or the console package (its neutral core `console.core` aside); only
`state/` imports SQLAlchemy (a listed few aside); screens never import state/'s writers: checked
on the source, module by module."""

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


def _module_file(name: str) -> Path | None:
    """The project file of a module name (`a.b` -> a/b.py or a/b/__init__.py), if any."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imported_modules(path: Path) -> set[str]:
    """`_imports`, plus the submodules `from package import module` names."""
    names = _imports(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if _module_file(f"{node.module}.{alias.name}") is not None:
                    names.add(f"{node.module}.{alias.name}")
    return names


def test_destinations_reach_no_store_even_through_other_modules() -> None:
    """Not even a chain (a destination importing the engine, which imports state/): a kind's
    poller reaches the store only through the run context the engine hands it. Imports inside
    functions count too."""
    start = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in _modules("console/destinations")
    ]
    seen: dict[str, str] = {name: name for name in start}  # module -> the chain that reached it
    queue = list(start)
    offenders = []
    while queue:
        name = queue.pop()
        path = _module_file(name)
        if path is None:
            continue
        for imported in _imported_modules(path):
            top = imported.split(".")[0]
            chain = f"{seen[name]} -> {imported}"
            if top in {"state", "sqlalchemy", "sqlmodel"}:
                offenders.append(chain)
            elif top in {"console", "state"} and imported not in seen:
                seen[imported] = chain
                queue.append(imported)
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


# Modules outside state/ that still speak SQL themselves: none. Keep it so; never grow it. A
# folder (ending in "/") would cover every module under it. (Destinations are held to no SQL at
# all, above.)
SQL_OUTSIDE_STATE: tuple[str, ...] = ()
SQL_PACKAGES = {"sqlalchemy", "sqlmodel"}
# Everything shipped or run beside the product; tests read the store as they please.
CODE_OUTSIDE_STATE = ["console", "bench"]


def _speaks_sql(path: Path) -> bool:
    return any(name.split(".")[0] in SQL_PACKAGES for name in _imports(path))


def _excepted(relative: str) -> bool:
    return any(
        relative.startswith(entry) if entry.endswith("/") else relative == entry
        for entry in SQL_OUTSIDE_STATE
    )


def test_only_state_speaks_sql() -> None:
    """Every SQL statement and dialect hint lives in state/: other rooms call its functions
    and hold a connection (`state.db.Connection`) only to hand it back."""
    offenders = [
        relative
        for folder in CODE_OUTSIDE_STATE
        for path in _modules(folder)
        if _speaks_sql(path) and not _excepted(relative := str(path.relative_to(ROOT)))
    ]
    assert offenders == []


def test_sql_exceptions_are_still_needed() -> None:
    """An excepted module that no longer imports SQLAlchemy comes off the list."""
    stale = [
        entry
        for entry in SQL_OUTSIDE_STATE
        if not entry.endswith("/") and (ROOT / entry).exists() and not _speaks_sql(ROOT / entry)
    ]
    assert stale == []


# The repositories that write (or exist for writers); screens only read, through the queries.
STATE_WRITERS = {
    "state.alerts",
    "state.bulk",
    "state.contacts",
    "state.cursors",
    "state.events",
    "state.import_jobs",
    "state.members",
    "state.outbox",
    "state.runs",
    "state.suppressions",
}


def test_ui_never_imports_state_writers() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules("console/ui")
        for name in _imports(path)
        if name in STATE_WRITERS
    ]
    assert offenders == []


# Writers of what the operator changes; only the engine's command service
# (`console.engine.commands`) calls them. Tests and tooling that build fixture stores may too.
OPERATOR_WRITERS = {
    "console.engine.destinations": {"save_destination"},
    "state.destinations": {"store_destination", "set_flags", "remove_destination"},
    "state.audiences": {"save_audience", "delete_audience"},
    "state.outbox": {"requeue_failures"},
    "state.suppressions": {"add_suppressions", "remove_suppressions"},
}
# Callers of the command service rather than its writers: the screens, the palette, config and
# the command line.
WRITE_THROUGH_THE_SERVICE = ["console/ui", "console/config.py", "console/cli"]


def _imported_names(path: Path) -> set[tuple[str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
        for alias in node.names
    }


def _callers() -> list[Path]:
    paths: list[Path] = []
    for entry in WRITE_THROUGH_THE_SERVICE:
        target = ROOT / entry
        paths += [target] if target.is_file() else sorted(target.rglob("*.py"))
    return paths


def test_only_the_command_service_writes_what_the_operator_changes() -> None:
    """Destinations, audiences and retries are written by `console.engine.commands` alone:
    the screens, config and the CLI call it (or `EngineService`, which wraps it)."""
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}.{name}"
        for path in _callers()
        for module, name in _imported_names(path)
        if name in OPERATOR_WRITERS.get(module, set())
    ]
    assert offenders == []


def _write_calls(path: Path) -> list[int]:
    """Lines calling `<something>.write()` with no arguments: a store's write transaction (a
    file's `write(text)` takes one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "write"
        and not node.args
        and not node.keywords
    ]


def test_screens_never_open_a_write_transaction() -> None:
    """Screens only read (through state/ queries) and call the engine for every change."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in _modules("console/ui")
        for line in _write_calls(path)
    ]
    assert offenders == []
    # The check sees the pattern it looks for.
    probe = ROOT / "console" / "engine" / "commands.py"
    assert _write_calls(probe)
