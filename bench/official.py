"""The official Segment client (`segment-analytics-python`) sending the benchmark's events.

`python -m bench.official --events FILE --host URL --write-key KEY` reads the JSONL events
(the same file the console imports), turns each into the client's `track()` arguments before
the clock starts, then times `track()` for every event plus `flush()` and `join()` (every
message acknowledged by the receiver). Prints one JSON object on stdout: `seconds`, `events`,
`dropped` (refused by the client's queue), `failed` (messages in batches the client reported
as failed). When the client is not installed it prints `{"missing": "<reason>"}`.

The client keeps its queue in memory (lost on a crash); it is given a queue as long as the
input, so it never drops a message, and otherwise its default settings: batches of 100 let its
consumer thread send while `track()` is still queueing, which measured faster here than
batches of 2,500 (fewer requests, but sent mostly after the queueing ends).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

UPLOAD_SIZE = 100
"""Messages a batch may hold: the client's default (it also caps a batch at ~475 KB)."""


def track_arguments(event: dict[str, Any]) -> dict[str, Any]:
    """`Client.track()` keyword arguments carrying what the console sends for `event`.

    The client's `track()` has no top-level `email`, so the email goes in `context.traits`,
    where Segment documents it; payload sizes stay comparable.
    """
    context = {
        "app": {"name": "retention", "version": "1.0"},
        "library": {"name": "unknown", "version": "unknown"},
    }
    if event.get("email"):
        context["traits"] = {"email": event["email"]}
    return {
        "user_id": event.get("userId"),
        "anonymous_id": event.get("anonymousId"),
        "event": event["event"],
        "properties": event.get("properties") or {},
        "context": context,
        "timestamp": datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")),
        "integrations": {},
        "message_id": event.get("messageId"),
    }


def main(argv: list[str] | None = None) -> int:
    """Send the events with the official client and print the timing as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.official")
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--write-key", default="bench-write-key")
    args = parser.parse_args(argv)
    try:
        from segment import analytics
    except ImportError as exc:
        print(orjson.dumps({"missing": str(exc)}).decode())
        return 0
    with open(args.events, "rb") as handle:
        calls = [track_arguments(orjson.loads(line)) for line in handle if line.strip()]
    failed = 0

    def on_error(_error: Exception, batch: list[Any]) -> None:
        nonlocal failed
        failed += len(batch)

    client = analytics.Client(
        args.write_key,
        host=args.host,
        max_queue_size=len(calls) + 1,
        upload_size=UPLOAD_SIZE,
        on_error=on_error,
        max_retries=3,
    )
    dropped = 0
    start = time.perf_counter()
    for call in calls:
        accepted, _ = client.track(**call)
        if not accepted:
            dropped += 1
    client.flush()
    client.join()
    seconds = time.perf_counter() - start
    result = {"seconds": seconds, "events": len(calls), "dropped": dropped, "failed": failed}
    print(orjson.dumps(result).decode())
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
