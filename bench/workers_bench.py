"""Figure 7: PostgreSQL workers sharing one destination (`--run-once --worker`).

For 1, 2 and 3 workers: a fresh database, N track events imported into it, one Segment
destination; the workers start together and the clock runs until the last one exits. The line
gives events/s, each worker's share and its peak RSS. The server is the one named by
`RETENTION_CONSOLE_BENCH_POSTGRES` (an admin URL), else a throwaway one from `.ci/postgres-up`
(fsync off, on this machine: the workers, the server and the sandbox share its cores).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bench.procs import ROOT, BenchError, Finished, cli, start_child
from state.scratch import scratch_database

if TYPE_CHECKING:
    from bench.run import Bench

POSTGRES_VARIABLE = "RETENTION_CONSOLE_BENCH_POSTGRES"
WORKER_COUNTS = (1, 2, 3)
DELIVERED = re.compile(r"^segment: \w+ - ([\d,]+) delivered", re.MULTILINE)


@contextmanager
def postgres_server() -> Iterator[str | None]:
    """An admin URL: the named server's, or a throwaway server's (stopped afterwards); None
    when neither is to be had."""
    named = os.environ.get(POSTGRES_VARIABLE)
    if named:
        yield named
        return
    script = ROOT / ".ci" / "postgres-up"
    started = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    url = started.stdout.strip().splitlines()[-1] if started.stdout.strip() else None
    try:
        yield url
    finally:
        if url:
            subprocess.run(["bash", str(script), "--stop"], timeout=60, check=False)


def run_together(
    commands: list[list[str]], workdir: Path, timeout: float, label: str
) -> tuple[float, list[Finished]]:
    """Start `python -m <command>` for each command at once; (wall seconds until the last
    exits, each one's Finished with its own peak RSS from `wait4`)."""
    start = time.perf_counter()
    procs = []
    for index, command in enumerate(commands):
        out = (workdir / f"{label}-{index}.out").open("wb")
        err = (workdir / f"{label}-{index}.err").open("wb")
        procs.append((start_child(command, out, err), out, err))
    ended: dict[int, tuple[float, int, float]] = {}
    deadline = start + timeout
    while len(ended) < len(procs):
        for index, (proc, _, _) in enumerate(procs):
            if index in ended:
                continue
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                ended[index] = (
                    time.perf_counter() - start,
                    os.waitstatus_to_exitcode(status),
                    usage.ru_maxrss / 1024,
                )
        if time.perf_counter() > deadline:
            for index, (proc, _, _) in enumerate(procs):
                if index not in ended:
                    os.kill(proc.pid, signal.SIGKILL)
                    os.wait4(proc.pid, 0)
            raise BenchError(f"{label}: still running after {timeout:.0f} s, stopped")
        time.sleep(0.01)
    wall = time.perf_counter() - start
    finished = []
    for index, (_, out, err) in enumerate(procs):
        out.close()
        err.close()
        seconds, code, rss = ended[index]
        finished.append(
            Finished(
                seconds=seconds,
                peak_rss_mb=rss,
                returncode=code,
                stdout=(workdir / f"{label}-{index}.out").read_text(errors="replace"),
                stderr=(workdir / f"{label}-{index}.err").read_text(errors="replace"),
            )
        )
    return wall, finished


def figure(bench: Bench, n: int, timeout: float) -> str:
    """The line of figure 7."""
    from bench.run import fmt

    with postgres_server() as admin_url:
        if admin_url is None:
            return (
                "7 postgresql workers: skipped (no PostgreSQL server: set "
                f"{POSTGRES_VARIABLE} to an admin URL, or install PostgreSQL's server)"
            )
        parts = []
        for workers in WORKER_COUNTS:
            with scratch_database(admin_url, "rc_bench") as url:
                parts.append(one_count(bench, url, n, workers, timeout))
    return f"7 postgresql workers: {fmt(n)} events, one destination; " + "; ".join(parts)


def one_count(bench: Bench, url: str, n: int, workers: int, timeout: float) -> str:
    """Deliver `n` events with `workers` workers into a fresh database; their part of the line."""
    from bench.run import apply_config, fmt

    label = f"pg{workers}"
    cli(url, ["import", "events", str(bench.events_file(n))], bench.workdir, timeout, label, (0,))
    apply_config(url, bench.workdir, label, bench.segment_toml("segment", grow=False, reclaim=True))
    bench.sandboxes.reset()
    command = ["console.cli", "--db", url, "--run-once", "--worker"]
    wall, finished = run_together([command] * workers, bench.workdir, timeout, label)
    shares = []
    for done in finished:
        found = DELIVERED.search(done.stdout)
        if done.returncode != 0 or found is None:
            detail = (done.stderr.strip() or done.stdout.strip())[-600:]
            raise BenchError(f"{label}: a worker exited {done.returncode}: {detail}")
        shares.append(int(found.group(1).replace(",", "")))
    stats = bench.sandboxes.segment_stats()
    if stats["unique_message_ids"] != n or sum(shares) != n:
        raise BenchError(
            f"{label}: the sandbox received {stats['unique_message_ids']:,} distinct events of "
            f"{n:,}; the workers booked {shares}"
        )
    rss = max(done.peak_rss_mb for done in finished)
    return (
        f"{workers} worker{'s' if workers > 1 else ''} {fmt(n / wall)} events/s "
        f"({wall:.1f} s, shares {'/'.join(fmt(s) for s in shares)}, "
        f"peak RSS {rss:.0f} MB)"
    )
