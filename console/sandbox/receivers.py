"""Receivers the sandbox command serves beside Segment and ReSci, found without naming them.

A receiver module in this package (`console/sandbox/<name>.py`) that defines `RECEIVER`, a
:class:`ReceiverSpec`, is served by `retention-console sandbox` on the next port, and the demo
adds a destination of its kind pointed at it; a new destination kind's receiver is added by
writing its module, with no list to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.sandbox.faults import Faults
from console.sandbox.server import SandboxApp


@dataclass(frozen=True)
class ReceiverSpec:
    kind: str
    """The destination kind whose service it plays (a name in the destinations' registry)."""
    label: str
    """How the sandbox command names it (`<label> sandbox: http://...`)."""
    build: Callable[[Faults | None], SandboxApp]
    keys: str
    """One line on what it accepts (a key, a signing secret)."""
    demo_settings: Callable[[str], dict[str, Any]]
    """The receiver's URL -> settings of a destination of its kind that it accepts (the demo)."""


def discovered_receivers() -> list[ReceiverSpec]:
    """Every `RECEIVER` declared by a module of this package, in module name order."""
    package = importlib.import_module("console.sandbox")
    specs = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        spec = getattr(module, "RECEIVER", None)
        if isinstance(spec, ReceiverSpec):
            specs.append(spec)
    return specs
