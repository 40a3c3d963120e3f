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
    naming = [line for line in lines if NAME.search(line)]
    assert naming == [
        "from console.destinations import resci, segment, webhook",
        "KINDS: dict[str, DestinationKind] = {k.name: k for k in (segment.KIND, resci.KIND, webhook.KIND)}",
    ]
