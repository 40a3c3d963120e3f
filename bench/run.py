"""The benchmark: delivery throughput, backfill, console responsiveness and memory.

`python -m bench` creates its own stores and data under a temporary folder, starts the
project's sandbox receivers on 127.0.0.1 in a child process, and prints one line per figure:

1. reclaim delivery: N track events imported, then delivered by `--run-once` to the Segment
   sandbox: events/s end to end with the import excluded and included, requests, peak RSS;
2. side by side: the same events sent by our `--run-once` and by the official
   `segment-analytics-python` client to the same sandbox, and the ratio ours / official;
3. grow delivery: N contacts as `identify`, through an email-domain filter and a suppression
   list of N/10 emails;
4. resci backfill: an audience of N contacts exported as one CSV import job;
5. console: launch to first paint and a filtered Failures page on a store of 1,000,000
   delivery rows (`bench.console_bench`, headless through Textual's test harness);
7. postgresql workers: 200,000 events delivered by 1, 2 and 3 `--run-once --worker`
   processes sharing one destination on PostgreSQL (`bench.workers_bench`).
(Figure 6, the preview's count, is `python -m bench.preview_bench`.)

Every step the console performs runs as the operator would run it, as a child process
(`retention-console import ...`, `config apply`, `--run-once`), and its peak RSS is that
process's own high-water mark from `wait4`. `--quick` uses N = 10,000 (for CI; one test runs
it). Figures that depend on an optional part print `skipped` and why.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench import data
from bench.procs import ROOT, BenchError, Finished, Sandboxes, child_env, cli, run_timed

FULL_N = 1_000_000
FULL_OFFICIAL_N = 100_000
FULL_CONSOLE_ROWS = 1_000_000
FULL_WORKERS_N = 200_000
QUICK_N = 10_000

WRITE_KEY = "bench-write-key"
API_KEY = "bench-api-key"
OFFICIAL_INSTALL = "pip install -e '.[bench]'"

# Targets of the issue (at N = 1,000,000 on a 2-core machine).
TARGET_EVENTS_PER_SECOND = 40_000
TARGET_RATIO = 4.0
TARGET_RSS_MB = 300
TARGET_BACKFILL_SECONDS = 15.0
TARGET_FIRST_PAINT_MS = 1000
TARGET_FILTERED_PAGE_MS = 100

RUN_LINE = re.compile(r"^(?P<name>[^:\n]+): (?P<status>\w+) - (?P<rest>.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Sizes:
    """How big each figure's input is."""

    n: int
    official_n: int
    console_rows: int
    workers_n: int

    @property
    def full(self) -> bool:
        """True at the sizes the issue's targets are set for."""
        return self.n >= FULL_N


def fmt(value: float, digits: int = 0) -> str:
    """`1,234` or `1,234.5`."""
    return f"{value:,.{digits}f}"


def verdict(met: bool, full: bool, target: str) -> str:
    """`(target X: met)` at the targets' size; at other sizes the target is only shown."""
    if not full:
        return f"(target at N=1,000,000: {target})"
    return f"(target {target}: {'met' if met else 'MISSED'})"


def run_counts(finished: Finished, destination: str) -> dict[str, int]:
    """The numbers of `--run-once`'s summary line for one destination."""
    for match in RUN_LINE.finditer(finished.stdout):
        if match.group("name").strip() == destination:
            counts = {
                label: int(number.replace(",", ""))
                for number, label in re.findall(r"(\d[\d,]*) ([a-z]+)", match.group("rest"))
            }
            counts["ok"] = int(match.group("status") == "ok")
            return counts
    raise BenchError(f"--run-once printed no line for {destination}: {finished.stdout.strip()}")


def apply_config(db: Path | str, workdir: Path, name: str, text: str) -> None:
    """Write a TOML configuration and apply it with `retention-console config apply`."""
    path = workdir / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    cli(db, ["config", "apply", str(path)], workdir, 120, f"config-{name}", ok=(0,))


def toml_list(values: tuple[str, ...]) -> str:
    """A TOML array of strings."""
    return "[" + ", ".join(orjson.dumps(v).decode() for v in values) + "]"


def timeout_for(n: int) -> float:
    """Generous bound for one child handling `n` rows (a stuck run must not hang the bench)."""
    return 120.0 + n / 1_000


class Bench:
    """Runs the figures in one work folder against one pair of sandboxes."""

    def __init__(self, sizes: Sizes, workdir: Path, sandboxes: Sandboxes) -> None:
        self.sizes = sizes
        self.workdir = workdir
        self.sandboxes = sandboxes
        self._events_files: dict[int, Path] = {}

    def events_file(self, n: int) -> Path:
        """The benchmark's `n` events as JSONL (written once per size)."""
        if n not in self._events_files:
            self._events_files[n] = data.write_events(self.workdir / f"events-{n}.jsonl", n)
        return self._events_files[n]

    def segment_toml(self, name: str, *, grow: bool, reclaim: bool, filters: str = "") -> str:
        """A Segment destination pointed at the sandbox."""
        return (
            "[[destinations]]\n"
            f'name = "{name}"\n'
            'kind = "segment"\n'
            f'write_key = "{WRITE_KEY}"\n'
            f'endpoint = "{self.sandboxes.segment_url}"\n'
            f"grow = {str(grow).lower()}\n"
            f"reclaim = {str(reclaim).lower()}\n"
            "suppression = true\n" + filters
        )

    def deliver_events(self, n: int, label: str) -> tuple[Finished, Finished, dict[str, int]]:
        """Import `n` events into a fresh store and deliver them with `--run-once`.

        Returns (import, run-once, sandbox stats). Raises BenchError when the sandbox did not
        receive every event exactly once.
        """
        events = self.events_file(n)
        db = self.workdir / f"{label}.db"
        timeout = timeout_for(n)
        imported = cli(
            db, ["import", "events", str(events)], self.workdir, timeout, f"{label}-import", ok=(0,)
        )
        apply_config(
            db, self.workdir, label, self.segment_toml("segment", grow=False, reclaim=True)
        )
        self.sandboxes.reset()
        run = cli(db, ["--run-once"], self.workdir, timeout, f"{label}-run", ok=(0,))
        stats = self.sandboxes.segment_stats()
        if stats["unique_message_ids"] != n:
            raise BenchError(
                f"{label}: the sandbox received {stats['unique_message_ids']:,} distinct events "
                f"of {n:,}"
            )
        return imported, run, stats

    # -- figures -------------------------------------------------------------------------------

    def reclaim(self) -> str:
        """Figure 1: Reclaim delivery end to end."""
        n = self.sizes.n
        imported, run, stats = self.deliver_events(n, "reclaim")
        excluded = n / run.seconds
        included = n / (imported.seconds + run.seconds)
        met = excluded >= TARGET_EVENTS_PER_SECOND and run.peak_rss_mb < TARGET_RSS_MB
        return (
            f"1 reclaim delivery: {fmt(n)} events; {fmt(excluded)} events/s end to end with "
            f"import excluded (run-once {run.seconds:.1f} s), {fmt(included)} events/s with "
            f"import included (import {imported.seconds:.1f} s); {fmt(stats['requests'])} "
            f"requests; peak RSS {run.peak_rss_mb:.0f} MB (import {imported.peak_rss_mb:.0f} MB) "
            + verdict(
                met, self.sizes.full, f">= {fmt(TARGET_EVENTS_PER_SECOND)} events/s, RSS < 300 MB"
            )
        )

    def side_by_side(self) -> str:
        """Figure 2: the same events through our run-once and the official client."""
        n = self.sizes.official_n
        # find_spec of a submodule imports its parent, which raises when it is missing.
        if importlib.util.find_spec("segment") is None or (
            importlib.util.find_spec("segment.analytics") is None
        ):
            return (
                "2 side by side: skipped (segment-analytics-python is not installed; "
                f"install it with: {OFFICIAL_INSTALL})"
            )
        _, run, ours_stats = self.deliver_events(n, "ours")
        ours = n / run.seconds
        self.sandboxes.reset()
        official = run_timed(
            [
                "bench.official",
                "--events",
                str(self.events_file(n)),
                "--host",
                self.sandboxes.segment_url,
                "--write-key",
                WRITE_KEY,
            ],
            self.workdir,
            timeout_for(n) * 2,
            "official",
        )
        result = orjson.loads(official.stdout.strip().splitlines()[-1]) if official.stdout else {}
        if "missing" in result:
            return f"2 side by side: skipped ({result['missing']}; install: {OFFICIAL_INSTALL})"
        if official.returncode != 0 or "seconds" not in result:
            raise BenchError(
                f"official client: exit {official.returncode}: {official.stderr[-800:]}"
            )
        stats = self.sandboxes.segment_stats()
        if stats["unique_message_ids"] != n or result["dropped"] or result["failed"]:
            raise BenchError(
                f"official client: the sandbox received {stats['unique_message_ids']:,} of "
                f"{n:,} events ({result['dropped']} dropped, {result['failed']} failed)"
            )
        # Process start included on both sides, as ours is: the official client's own
        # timing (track, flush, join) leaves out its start and reading the file.
        theirs = n / official.seconds
        ratio = ours / theirs
        return (
            f"2 side by side: {fmt(n)} events, same payloads, same sandbox; ours {fmt(ours)} "
            f"events/s (run-once {run.seconds:.1f} s, {fmt(ours_stats['requests'])} requests, "
            f"peak RSS {run.peak_rss_mb:.0f} MB), official segment-analytics-python "
            f"{fmt(theirs)} events/s (process {official.seconds:.1f} s of which sending "
            f"{result['seconds']:.1f} s, {fmt(stats['requests'])} requests, peak RSS "
            f"{official.peak_rss_mb:.0f} MB); ratio ours/official {ratio:.2f}x, process start "
            "included on both sides "
            + verdict(ratio >= TARGET_RATIO, self.sizes.full, f">= {TARGET_RATIO:.0f}x")
            + "; the official client keeps its queue in memory and loses it on a crash, ours "
            "is durable, so the comparison is conservative"
        )

    def grow(self) -> str:
        """Figure 3: Grow contacts as identify, filtered and suppressed."""
        n = self.sizes.n
        db = self.workdir / "contacts.db"
        contacts = data.write_contacts(self.workdir / "contacts.jsonl", n)
        suppressions = data.write_suppressions(self.workdir / "suppressions.txt", n, n // 10)
        timeout = timeout_for(n)
        imported = cli(
            db, ["import", "contacts", str(contacts)], self.workdir, timeout, "grow-import", ok=(0,)
        )
        suppressed_import = cli(
            db,
            ["import", "suppressions", str(suppressions)],
            self.workdir,
            timeout,
            "grow-suppressions",
            ok=(0,),
        )
        filters = f"[destinations.filters]\nemail_domains = {toml_list(data.GROW_DOMAINS)}\n"
        apply_config(
            db,
            self.workdir,
            "grow",
            self.segment_toml("grow", grow=True, reclaim=False, filters=filters),
        )
        self.sandboxes.reset()
        run = cli(
            db, ["--run-once", "--destination", "grow"], self.workdir, timeout, "grow-run", ok=(0,)
        )
        counts = run_counts(run, "grow")
        stats = self.sandboxes.segment_stats()
        if stats["unique_message_ids"] != counts.get("delivered"):
            raise BenchError(
                f"grow: run-once delivered {counts.get('delivered')} but the sandbox received "
                f"{stats['unique_message_ids']}"
            )
        import_seconds = imported.seconds + suppressed_import.seconds
        excluded = n / run.seconds
        included = n / (import_seconds + run.seconds)
        return (
            f"3 grow delivery: {fmt(n)} contacts ({fmt(counts.get('delivered', 0))} delivered as "
            f"identify, {fmt(counts.get('filtered', 0))} filtered by email domain, "
            f"{fmt(counts.get('suppressed', 0))} suppressed by a list of {fmt(n // 10)}); "
            f"{fmt(excluded)} contacts/s with import excluded (run-once {run.seconds:.1f} s), "
            f"{fmt(included)} contacts/s with import included (imports {import_seconds:.1f} s); "
            f"{fmt(stats['requests'])} requests; peak RSS {run.peak_rss_mb:.0f} MB "
            + verdict(run.peak_rss_mb < TARGET_RSS_MB, self.sizes.full, "RSS < 300 MB")
        )

    def resci(self) -> str:
        """Figure 4: ReSci backfill of the contacts of figure 3 as one import job."""
        n = self.sizes.n
        if importlib.util.find_spec("console.destinations.resci.poller") is None:
            return "4 resci backfill: skipped (ReSci driver not available)"
        db = self.workdir / "contacts.db"
        if not db.exists():
            return "4 resci backfill: skipped (needs the contacts of figure 3)"
        apply_config(
            db,
            self.workdir,
            "resci",
            '[[audiences]]\nname = "everyone"\nrule = "email contains \'@\'"\n\n'
            "[[destinations]]\n"
            'name = "resci"\nkind = "resci"\n'
            f'api_key = "{API_KEY}"\nendpoint = "{self.sandboxes.resci_url}"\nsite_id = "4242"\n'
            "[destinations.export]\n"
            'audience = "everyone"\n'
            'fields = { first_name = "full_name", address_line_1 = "address1", '
            'address_city = "city", address_state = "state", address_postal = "zip" }\n',
        )
        self.sandboxes.reset()
        run = cli(
            db,
            ["--run-once", "--destination", "resci"],
            self.workdir,
            timeout_for(n),
            "resci-run",
            ok=(0, 1),  # 1: the job is still being processed by ReSci when the run ends
        )
        jobs = self.sandboxes.resci_jobs()
        rows = sum(int(job.get("rows", 0)) for job in jobs)
        if len(jobs) != 1 or rows != n:
            raise BenchError(f"resci: expected one job of {n:,} rows, the sandbox has {jobs}")
        return (
            f"4 resci backfill: {fmt(n)} contacts exported as one CSV import job "
            f"({fmt(rows)} rows received); {run.seconds:.1f} s to build and upload the file "
            f"(the whole run-once); peak RSS {run.peak_rss_mb:.0f} MB "
            + verdict(
                run.seconds < TARGET_BACKFILL_SECONDS and run.peak_rss_mb < TARGET_RSS_MB,
                self.sizes.full,
                "< 15 s, RSS < 300 MB",
            )
        )

    def workers(self) -> str:
        """Figure 7: 1, 2 and 3 PostgreSQL workers sharing a destination."""
        from bench import workers_bench

        n = self.sizes.workers_n
        return workers_bench.figure(self, n, timeout_for(n))

    def console(self) -> str:
        """Figure 5: first paint and a filtered Failures page, through bench.console_bench."""
        rows = self.sizes.console_rows
        for module in ("console.ui.app", "bench.console_bench"):
            if importlib.util.find_spec(module) is None:
                return f"5 console: skipped ({module} not available)"
        db = self.workdir / "console.db"
        done = run_timed(
            ["bench.console_bench", "--rows", str(rows), "--db", str(db)],
            self.workdir,
            timeout_for(rows) + 120,
            "console",
        )
        text = done.stdout

        def seconds(pattern: str) -> float | None:
            match = re.search(pattern + r"[^\n]*:\s*([\d.]+) s\s*$", text, re.MULTILINE)
            return float(match.group(1)) if match else None

        paint = seconds(r"^launch to first paint")
        screen = seconds(r"^failures screen")
        filtered = seconds(r"^filtered failures page")
        if done.returncode != 0 or paint is None or filtered is None:
            detail = (done.stderr.strip() or text.strip())[-400:]
            return (
                f"5 console: skipped (bench.console_bench failed: exit {done.returncode}: {detail})"
            )
        screen_text = f"; failures screen {screen * 1000:.0f} ms" if screen is not None else ""
        return (
            f"5 console: {fmt(rows)} delivery rows; launch to first paint {paint * 1000:.0f} ms"
            f"{screen_text}; filtered failures page {filtered * 1000:.0f} ms "
            + verdict(
                paint * 1000 < TARGET_FIRST_PAINT_MS and filtered * 1000 < TARGET_FILTERED_PAGE_MS,
                rows >= FULL_CONSOLE_ROWS,
                "first paint < 1,000 ms, filtered page < 100 ms",
            )
        )


def machine_line() -> str:
    """Cores, platform, versions and the load when the benchmark started."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"load average {load:.2f} at start"
    )


FIGURES: dict[str, Callable[[Bench], str]] = {
    "1": Bench.reclaim,
    "2": Bench.side_by_side,
    "3": Bench.grow,
    "4": Bench.resci,
    "5": Bench.console,
    "7": Bench.workers,
}


def warm_bytecode() -> None:
    """Import what the measured processes import once, so that their bytecode is compiled
    and cached before any clock starts (an installed package has it from pip)."""
    subprocess.run(
        [sys.executable, "-c", WARM_IMPORTS], env=child_env(), cwd=ROOT, check=False, timeout=120
    )


WARM_IMPORTS = """
import importlib.util
import console.cli, console.engine.runner, console.destinations.registry
if importlib.util.find_spec("segment") is not None:
    import segment.analytics
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; see `python -m bench --help`."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Delivery, backfill and console benchmarks against the project's sandboxes.",
    )
    parser.add_argument("--quick", action="store_true", help=f"N = {QUICK_N:,} everywhere (CI)")
    parser.add_argument("--n", type=int, default=None, help="events / contacts for figures 1, 3, 4")
    parser.add_argument("--official-n", type=int, default=None, help="events for figure 2")
    parser.add_argument("--console-rows", type=int, default=None, help="outbox rows for figure 5")
    parser.add_argument("--workers-n", type=int, default=None, help="events for figure 7")
    parser.add_argument(
        "--only", default="123457", help="which figures to run, e.g. 13 (default: all)"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where stores and files go")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (one given is always kept)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen figures and print one line each; exit 1 when a figure broke."""
    args = parse_args(argv)
    default_n = QUICK_N if args.quick else FULL_N
    sizes = Sizes(
        n=args.n or default_n,
        official_n=args.official_n or (QUICK_N if args.quick else FULL_OFFICIAL_N),
        console_rows=args.console_rows or (QUICK_N if args.quick else FULL_CONSOLE_ROWS),
        workers_n=args.workers_n or (QUICK_N if args.quick else FULL_WORKERS_N),
    )
    own_workdir = args.workdir is None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rc-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(machine_line(), flush=True)
    failed = False
    budget = 600.0 if args.quick else 4 * 3600.0
    try:
        with Sandboxes(max_seconds=budget) as sandboxes:
            warm_bytecode()
            bench = Bench(sizes, workdir, sandboxes)
            for key, figure in FIGURES.items():
                if key not in args.only:
                    continue
                started = time.perf_counter()
                try:
                    line = figure(bench)
                except BenchError as exc:
                    failed = True
                    line = f"{key} {figure.__name__}: FAILED ({exc})"
                print(line, flush=True)
                if os.environ.get("BENCH_VERBOSE"):
                    print(f"   ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    finally:
        if args.keep or not own_workdir:
            print(f"work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0
