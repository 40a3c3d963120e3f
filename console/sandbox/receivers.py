"""What `retention-console sandbox` serves: Segment, ReSci, and receivers found without naming
them.

A receiver module in this package (`console/sandbox/<name>.py`) that defines `RECEIVER`, a
:class:`ReceiverSpec`, is served by `retention-console sandbox` on the next port, and the demo
adds a destination of its kind pointed at it; a new destination kind's receiver is added by
writing its module, with no list to edit.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from console.sandbox.faults import Faults
from console.sandbox.resci import ResciSandbox
from console.sandbox.segment import SegmentSandbox
from console.sandbox.server import SandboxApp, SandboxServer


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


DEMO_WRITE_KEY = "sandbox-write-key"
"""A write key the demo uses; any non-empty key works unless write keys are restricted."""
DEMO_API_KEY = "sandbox-api-key"
"""An API key the demo uses; any non-empty key works unless API keys are restricted."""


def _describe_keys(keys: set[str] | None, example: str) -> str:
    if keys is None:
        return f"any non-empty key (e.g. {example})"
    return ", ".join(sorted(keys)) or "(none)"


def serve_sandboxes(
    segment_port: int = 8765,
    resci_port: int | None = None,
    *,
    host: str = "127.0.0.1",
    write_keys: set[str] | None = None,
    api_keys: set[str] | None = None,
    segment_faults: Faults | None = None,
    resci_faults: Faults | None = None,
    site_id: int = 4242,
    job_delay_seconds: float = 2.0,
    keep_messages: bool = True,
    out: TextIO | None = None,
    stop_event: threading.Event | None = None,
    on_ready: Callable[[SandboxServer[SegmentSandbox], SandboxServer[ResciSandbox]], None]
    | None = None,
) -> None:
    """Run the Segment and ReSci sandboxes until Ctrl-C (or ``stop_event`` is set).

    Used by ``retention-console sandbox --port 8765``: Segment listens on ``segment_port``,
    ReSci on ``resci_port`` (default ``segment_port + 1``), the receivers of other kinds
    (:mod:`console.sandbox.receivers`) on the ports after it. Prints the URLs and the accepted
    keys to ``out`` (default stdout), then blocks. Every server is stopped before returning.
    """
    out = out if out is not None else sys.stdout
    if resci_port is None:
        resci_port = segment_port + 1 if segment_port else 0
    segment = SandboxServer(
        SegmentSandbox(write_keys=write_keys, faults=segment_faults, keep_messages=keep_messages),
        port=segment_port,
        host=host,
    )
    resci = SandboxServer(
        ResciSandbox(
            api_keys=api_keys,
            site_id=site_id,
            job_delay_seconds=job_delay_seconds,
            faults=resci_faults,
        ),
        port=resci_port,
        host=host,
    )
    others = [
        (spec, SandboxServer(spec.build(None), port=resci_port + n if resci_port else 0, host=host))
        for n, spec in enumerate(discovered_receivers(), 1)
    ]
    stop_event = stop_event if stop_event is not None else threading.Event()
    with contextlib.ExitStack() as running:
        for server in (segment, resci, *(server for _, server in others)):
            running.enter_context(server)
        print(f"Segment sandbox: {segment.url}", file=out)
        print(f"  write key: {_describe_keys(write_keys, DEMO_WRITE_KEY)}", file=out)
        print(f"ReSci sandbox:   {resci.url}   (site id {site_id})", file=out)
        print(f"  API key:   {_describe_keys(api_keys, DEMO_API_KEY)}", file=out)
        for spec, server in others:
            print(f"{spec.label} sandbox: {server.url}", file=out)
            print(f"  {spec.keys}", file=out)
        print(
            "Control endpoints under /_sandbox/ (stats, faults, reset). Ctrl-C to stop.", file=out
        )
        out.flush()
        if on_ready is not None:
            on_ready(segment, resci)
        # Wait in short slices so Ctrl-C is noticed promptly on every platform.
        with contextlib.suppress(KeyboardInterrupt):
            while not stop_event.wait(0.2):
                pass
