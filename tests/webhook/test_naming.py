"""The webhook kind is one package plus one registry line: no other module of the product names
it (the sandbox's receiver of it aside), so nothing outside its package branches on it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "console/destinations/webhook/"
ALLOWED = {"console/destinations/registry.py", "console/sandbox/webhook.py"}
NAME = re.compile(r"webhook", re.IGNORECASE)


def test_no_module_outside_the_package_names_the_kind() -> None:
    offenders = []
    for folder in ("console", "state", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(PACKAGE) or relative in ALLOWED:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if NAME.search(line):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []


def test_the_registry_names_it_only_to_list_it() -> None:
    lines = (ROOT / "console/destinations/registry.py").read_text(encoding="utf-8").splitlines()
    naming = [line.strip() for line in lines if NAME.search(line)]
    imports = [line for line in naming if line.startswith("from console.destinations import")]
    listed = [line for line in naming if "webhook.KIND" in line]
    assert len(imports) == 1 and len(listed) == 1
    assert sorted(naming) == sorted(imports + listed)
