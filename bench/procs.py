"""Child processes for the benchmark: timed CLI runs with their peak memory, and the sandbox.

Every child is bounded in time and killed by its process id when it overruns; the sandbox
child also stops by itself when our end of its stdin closes or its own time limit passes.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]


class BenchError(Exception):
    """A step of the benchmark did not do what it must; the message says which and why."""


@dataclass(frozen=True)
class Finished:
    """A child process that ran to its end."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The children import `console`, `state` and `bench` from this checkout.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    # As installed: pip compiles a package's bytecode, so a process start does not compile
    # every module from source (a machine that sets PYTHONDONTWRITEBYTECODE pays that on
    # every start, for our process and the official client's alike).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def start_child(args: list[str], out: IO[bytes], err: IO[bytes]) -> subprocess.Popen[bytes]:
    """`python -m <args>` from this checkout, its output into `out` and `err`."""
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        stdout=out,
        stderr=err,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
        env=child_env(),
    )


def run_timed(args: list[str], workdir: Path, timeout: float, label: str) -> Finished:
    """Run `python -m <args>` to its end; wall seconds and peak RSS come from the kernel.

    Peak RSS is the child's own `ru_maxrss` from `wait4`, so it is that process's high-water
    mark and nothing else's. Raises BenchError after `timeout` seconds (the child is killed).
    """
    out_path = workdir / f"{label}.out"
    err_path = workdir / f"{label}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = start_child(args, out, err)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.kill(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise BenchError(f"{label}: still running after {timeout:.0f} s, stopped")
            time.sleep(0.01)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Finished(
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        returncode=proc.returncode,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


def cli(
    db: Path | str,
    arguments: list[str],
    workdir: Path,
    timeout: float,
    label: str,
    ok: tuple[int, ...],
) -> Finished:
    """`retention-console --db DB ARGUMENTS...` as a timed child; BenchError on another exit."""
    done = run_timed(["console.cli", "--db", str(db), *arguments], workdir, timeout, label)
    if done.returncode not in ok:
        detail = (done.stderr.strip() or done.stdout.strip())[-800:]
        raise BenchError(f"{label}: exit {done.returncode}: {detail}")
    return done


class Sandboxes:
    """The project's Segment and ReSci sandboxes in a child process (`bench.sandbox_proc`).

    The child runs on the other core, so its request handling does not share our process's
    GIL with the code being measured. Use as a context manager.
    """

    def __init__(self, max_seconds: float) -> None:
        self.max_seconds = max_seconds
        self._proc: subprocess.Popen[bytes] | None = None
        self.segment_url = ""
        self.resci_url = ""
        self._http = httpx.Client(timeout=30.0)

    def __enter__(self) -> Sandboxes:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.sandbox_proc",
                "--max-seconds",
                str(int(self.max_seconds)),
                "--job-delay",
                "0.2",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env=child_env(),
        )
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], 30.0)
        line = self._proc.stdout.readline() if ready else b""
        if not line:
            self.__exit__(None, None, None)
            raise BenchError("the sandbox process did not start within 30 s")
        urls = orjson.loads(line)
        self.segment_url, self.resci_url = urls["segment"], urls["resci"]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.close()
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # the child stops when its stdin closes
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    def _control(self, base: str, method: str, action: str) -> Any:
        response = self._http.request(method, f"{base}/_sandbox/{action}")
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Forget what both sandboxes received (message ids, jobs, request counts)."""
        self._control(self.segment_url, "POST", "reset")
        self._control(self.resci_url, "POST", "reset")

    def segment_stats(self) -> dict[str, int]:
        """`{"requests", "messages", "unique_message_ids", "duplicates"}` of the Segment sandbox."""
        return dict(self._control(self.segment_url, "GET", "stats"))

    def resci_stats(self) -> dict[str, int]:
        """`{"requests", "jobs", ...}` of the ReSci sandbox."""
        return dict(self._control(self.resci_url, "GET", "stats"))

    def resci_jobs(self) -> list[dict[str, Any]]:
        """The ReSci sandbox's import jobs (id, status, rows, ...)."""
        return list(self._control(self.resci_url, "GET", "jobs"))
