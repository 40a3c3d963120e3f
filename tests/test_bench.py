"""`python -m bench --quick` runs end to end and prints every figure, so the benchmark never rots.

Figures that need an optional part (the official Segment client from the `bench` extra, the
ReSci driver, the console) may say `skipped` with the reason; the delivery figures never may.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = {
    "1": "reclaim delivery",
    "2": "side by side",
    "3": "grow delivery",
    "4": "resci backfill",
    "5": "console",
    "7": "postgresql workers",
}
OPTIONAL = {"2", "4", "5", "7"}
NUMBER = re.compile(r"\d[\d,]*(\.\d+)?")


def test_quick_benchmark_prints_every_figure(tmp_path: Path) -> None:
    # Figure 7 runs on the suite's PostgreSQL server when there is one (.ci/run starts it);
    # without one it is left out rather than starting a server of its own.
    env = dict(os.environ)
    figures = dict(FIGURES)
    if server := os.environ.get("RETENTION_CONSOLE_TEST_POSTGRES"):
        env["RETENTION_CONSOLE_BENCH_POSTGRES"] = server
    else:
        del figures["7"]
    command = [sys.executable, "-m", "bench", "--quick", "--workdir", str(tmp_path / "work")]
    result = subprocess.run(
        [*command, "--only", "".join(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
        env=env,
    )
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    lines = output.splitlines()
    assert lines[0].startswith("machine: ") and "cores" in lines[0]
    for key, name in figures.items():
        found = [line for line in lines if line.startswith(f"{key} {name}: ")]
        assert len(found) == 1, f"no line for figure {key} ({name}) in:\n{output}"
        text = found[0].split(": ", 1)[1]
        assert "FAILED" not in text, text
        if key in OPTIONAL and text.startswith("skipped ("):
            continue
        assert NUMBER.search(text), text
    per_second = re.search(r"([\d,]+) events/s end to end with import excluded", output)
    assert per_second and int(per_second.group(1).replace(",", "")) > 0


def test_preview_benchmark_prints_both_counts(tmp_path: Path) -> None:
    """`python -m bench.preview_bench` (figure 6) at a small N: a line per setting, each with
    the time within the budget and the exact count."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.preview_bench", "--n", "3000", "--budget", "0.5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("6 preview ")]
    assert [line.split(":", 1)[0] for line in lines] == [
        "6 preview segment grow",
        "6 preview resci export",
    ]
    assert "exact 2,400" in lines[0] and "exact 300" in lines[1], lines


def test_demo_paint_probe_prints_its_figures(tmp_path: Path) -> None:
    """`python -m bench.demo_paint` (README's demo figure) runs; its times are not asserted."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.demo_paint", "--history-days", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("launch to first paint (destinations, building demo data…): ")
    assert lines[1].startswith("launch to demo data landed (1 day, engine started): ")
    assert all(NUMBER.search(line) for line in lines[:2])
