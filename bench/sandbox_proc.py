"""Runs the project's Segment and ReSci sandboxes in a process of their own, for the benchmark.

`python -m bench.sandbox_proc [--job-delay S] [--max-seconds S]` binds both receivers on
127.0.0.1 with free ports, keeps no message bodies (only their ids, for de-duplication stats),
prints one JSON line `{"segment": URL, "resci": URL}` on stdout once both listen, and serves
until stdin closes, SIGTERM, or `--max-seconds` pass (so a crashed benchmark never leaves it
running for long).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

import orjson

from console.sandbox import SandboxServer, serve_sandboxes


def main(argv: list[str] | None = None) -> None:
    """Serve the sandboxes until told to stop; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_proc")
    parser.add_argument("--job-delay", type=float, default=0.2, help="ReSci import job seconds")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="serve at most this")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = time.monotonic()

    def ready(segment: SandboxServer, resci: SandboxServer) -> None:
        line = orjson.dumps({"segment": segment.url, "resci": resci.url}).decode()
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

        def watch_stdin() -> None:
            # The parent holds our stdin; when it goes away (even killed), so do we.
            sys.stdin.read()
            stop.set()

        def watch_clock() -> None:
            while not stop.wait(1.0):
                if time.monotonic() - started > args.max_seconds:
                    stop.set()

        threading.Thread(target=watch_stdin, daemon=True).start()
        threading.Thread(target=watch_clock, daemon=True).start()

    class _Discard:
        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            pass

    serve_sandboxes(
        0,
        0,
        job_delay_seconds=args.job_delay,
        keep_messages=False,
        out=_Discard(),  # type: ignore[arg-type]
        stop_event=stop,
        on_ready=ready,
    )


if __name__ == "__main__":
    main()
