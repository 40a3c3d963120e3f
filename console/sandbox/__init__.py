"""Local receivers that speak each destination kind's API (Segment, ReSci, and the kinds whose
receiver declares itself in `receivers.py`), for tests, the demo and benchmarks.

Everything binds 127.0.0.1 only. Typical use::

    from console.sandbox import SandboxServer, SegmentSandbox

    with SandboxServer(SegmentSandbox(write_keys={"k"})) as server:
        ...  # point the Segment destination at server.url
"""

from console.sandbox.alerts import AlertSandbox
from console.sandbox.faults import FaultDecision, FaultKind, Faults
from console.sandbox.receivers import DEMO_API_KEY, DEMO_WRITE_KEY, serve_sandboxes
from console.sandbox.resci import ImportJob, ResciSandbox
from console.sandbox.segment import SegmentSandbox
from console.sandbox.server import Request, Response, SandboxApp, SandboxServer

__all__ = [
    "DEMO_API_KEY",
    "DEMO_WRITE_KEY",
    "AlertSandbox",
    "FaultDecision",
    "FaultKind",
    "Faults",
    "ImportJob",
    "Request",
    "ResciSandbox",
    "Response",
    "SandboxApp",
    "SandboxServer",
    "SegmentSandbox",
    "serve_sandboxes",
]
