"""`retention-console serve`: the console in a web browser through textual-serve, on 127.0.0.1
unless told otherwise, each tab a console without a scheduler of its own (`--no-engine`).

The server runs as a real process on a free 127.0.0.1 port; one test speaks to it as a browser's
page does (HTTP, then the page's websocket), another drives a headless Chromium (Debian's
`chromium`, skipped with the reason where it is not installed) and screenshots the console."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import console.ui.app
from console.cli import main
from console.cli.serve import is_loopback, tab_command
from tests.cli.test_commands import ENTRY_POINT, cli, segment_toml, write
from tests.cli.test_settings import OpenedConsole

aiohttp = pytest.importorskip("aiohttp", reason="the serve extra (textual-serve) is not installed")
pytest.importorskip("textual_serve", reason="the serve extra (textual-serve) is not installed")

SCREENSHOT_DIR_ENV = "RETENTION_CONSOLE_SCREENSHOT_DIR"
"""Where the browser test also saves its screenshot (README's: screenshots/)."""
DESTINATION = "segment-browser"
ANSI = re.compile(r"\x1b(\[[0-9;?$]*[A-Za-z@]|\][^\x07]*\x07|[()][0-9A-Za-z])")


# -- refusing what is not safe, and the tabs' command ------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_a_host_other_machines_reach_is_refused_without_allow_remote(
    tmp_path: Path, host: str
) -> None:
    db = tmp_path / "never.db"
    result = CliRunner().invoke(main, ["serve", "--host", host, "--db", str(db)])
    assert result.exit_code == 2
    assert "textual-serve has no authentication" in result.stderr
    assert "ssh -L 8000:127.0.0.1:8000" in result.stderr
    assert not db.exists()  # refused before anything was opened


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_help_says_there_is_no_authentication_and_shows_the_tunnel() -> None:
    text = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "no authentication" in text.lower()
    assert "ssh -L 8000:127.0.0.1:8000 HOST" in text
    assert "[default: 127.0.0.1]" in text


def test_tabs_open_the_console_without_an_engine() -> None:
    assert tab_command(verbose=False).endswith(" -m console --no-engine")
    assert tab_command(verbose=True).endswith(" -m console --no-engine -v")


def test_no_engine_opens_the_console_without_its_scheduler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = OpenedConsole()
    monkeypatch.setattr(console.ui.app, "make_app", opened)
    assert cli("--db", tmp_path / "a.db", "--no-engine").exit_code == 0
    assert (opened.kwargs["start_engine"], opened.kwargs["engine_elsewhere"]) == (False, True)
    assert cli("--db", tmp_path / "a.db").exit_code == 0
    assert (opened.kwargs["start_engine"], opened.kwargs["engine_elsewhere"]) == (True, False)


# -- a real server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def descendants(pid: int) -> dict[int, str]:
    """The processes under `pid`, with their command lines (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                try:
                    cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                except OSError:
                    continue
                found[child] = cmdline.replace(b"\0", b" ").decode(errors="replace")
                frontier.append(child)
    return found


class Served:
    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`retention-console serve` on a free 127.0.0.1 port over a store holding one Segment
    destination; stopped (SIGTERM, as systemd would) afterwards."""
    db = tmp_path / "served.db"
    config = write(tmp_path / "d.toml", segment_toml(DESTINATION, endpoint="http://127.0.0.1:9"))
    assert cli("config", "apply", config, "--db", db).exit_code == 0
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data")}
    env.pop("RETENTION_CONSOLE_DB", None)
    process = subprocess.Popen(
        [str(ENTRY_POINT), "serve", "--port", str(port), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "serve did not answer within 30 s"
            time.sleep(0.2)
        yield Served(process, url)
    finally:
        tabs = descendants(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in tabs) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in tabs:  # a tab left behind would hold the store: fail, but clean up first
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"a tab's process outlived serve: {tabs[pid]}")


async def screen_text(websocket: aiohttp.ClientWebSocketResponse, wanted: str) -> str:
    """What the tab's console drew, escape sequences removed, once `wanted` is in it."""
    received = ""
    async with asyncio.timeout(30):
        async for message in websocket:
            if message.type == aiohttp.WSMsgType.BINARY:
                received += message.data.decode("utf-8", "replace")
            if wanted in ANSI.sub("", received):
                return ANSI.sub("", received)
    raise AssertionError(f"the tab closed before showing {wanted!r}: {received[-500:]!r}")


def test_serve_answers_on_127_0_0_1_and_each_tab_is_a_console_without_engine(
    served: Served,
) -> None:
    page = httpx.get(served.url, timeout=5)
    assert page.status_code == 200
    assert "<div>Retention Console</div>" in page.text
    websocket_url = served.url.replace("http://", "ws://") + "ws"
    assert f'data-session-websocket-url="{websocket_url}"' in page.text

    async def open_tab() -> tuple[str, dict[int, str], set[int]]:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(websocket_url + "?width=120&height=30") as websocket,
        ):
            text = await screen_text(websocket, DESTINATION)
            tabs = descendants(served.process.pid)
        # The page closed: its console quits with it.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            alive = {pid for pid in tabs if Path(f"/proc/{pid}").exists()}
            if not alive:
                break
            await asyncio.sleep(0.1)
        return text, tabs, alive

    text, tabs, alive = asyncio.run(open_tab())

    assert "Destinations" in text and DESTINATION in text
    consoles = [cmd for cmd in tabs.values() if " -m console --no-engine" in cmd]
    assert consoles, tabs
    assert alive == set(), "a closed tab's console kept running"


def test_a_port_in_use_exits_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(ENTRY_POINT), "serve", "--port", str(port), "--db", str(tmp_path / "p.db")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "HOME": str(tmp_path)},
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"error: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


# -- a real browser ------------------------------------------------------------------------------

# Records what the page's websocket brings (the console's screen as terminal output) so the test
# can read the words xterm.js paints on a canvas.
RECORD_SCREEN = r"""
(() => {
  window.__screen = "";
  const decoder = new TextDecoder();
  const Native = window.WebSocket;
  function Recorded(url, protocols) {
    const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
    socket.addEventListener("message", (event) => {
      if (event.data instanceof ArrayBuffer) {
        window.__screen += decoder.decode(event.data, {stream: true});
      }
    });
    return socket;
  }
  Recorded.prototype = Native.prototype;
  for (const name of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Recorded[name] = Native[name];
  window.WebSocket = Recorded;
})();
"""

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--window-size=1200,700",
    "--remote-debugging-port=0",
    # Nothing leaves the machine: every name but 127.0.0.1 fails to resolve (the page asks
    # for a web font), and Chromium's own background traffic is off.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class DevTools:
    """Just enough of the Chrome DevTools Protocol: numbered calls over the page's websocket."""

    def __init__(self, websocket: aiohttp.ClientWebSocketResponse) -> None:
        self.websocket = websocket
        self.next_id = 0

    async def call(self, method: str, **params: object) -> dict[str, object]:
        self.next_id += 1
        call_id = self.next_id
        await self.websocket.send_json({"id": call_id, "method": method, "params": params})
        async for message in self.websocket:
            reply = json.loads(message.data)
            if reply.get("id") == call_id:
                assert "error" not in reply, reply
                result: dict[str, object] = reply["result"]
                return result
        raise AssertionError(f"DevTools closed during {method}")

    async def evaluate(self, expression: str) -> object:
        """The expression's value; None while the page is between documents (navigating)."""
        reply = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return reply["result"].get("value")  # type: ignore[attr-defined]


async def browse(browser: str, url: str, profile: Path) -> tuple[str, bytes]:
    """Open `url` in a headless Chromium, wait until the console drew the Destinations screen,
    and return (the screen's text, a PNG screenshot)."""
    process = subprocess.Popen(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, "chromium exited at start"
            await asyncio.sleep(0.1)
        devtools_port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{devtools_port}/json/list") as reply:
                page = next(t for t in await reply.json() if t["type"] == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                devtools = DevTools(ws)
                await devtools.call("Page.enable")
                await devtools.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=1200,
                    height=700,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                await devtools.call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_SCREEN)
                await devtools.call("Page.navigate", url=url)
                text = ""
                # The page shows the terminal (not its intro card) once bytes arrived, and the
                # console's first screen is Destinations with the store's destination in it.
                while not (DESTINATION in text and "Destinations" in text):
                    await asyncio.sleep(0.3)
                    shown = await devtools.evaluate(
                        "JSON.stringify([document.body ? document.body.className : '',"
                        " window.__screen || ''])"
                    )
                    classes, screen = json.loads(str(shown)) if shown else ("", "")
                    text = ANSI.sub("", screen) if "-first-byte" in classes else ""
                await asyncio.sleep(1.0)  # xterm.js paints on its next animation frames
                shot = await devtools.call("Page.captureScreenshot", format="png")
                return text, base64.b64decode(str(shot["data"]))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def png_pixels(data: bytes, max_rows: int) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, the first `max_rows` rows of RGB(A) bytes) of an 8-bit
    truecolour PNG, as Chromium writes them."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    position, idat = 8, b""
    width = height = channels = 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(min(height, max_rows)):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            up_left = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - up_left
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - up_left)
                nearest = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[x] = (line[x] + nearest) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


@pytest.mark.skipif(
    chromium() is None,
    reason="chromium is not installed (Debian: apt-get install chromium; .ci/run installs it "
    "where apt-get can)",
)
def test_a_browser_shows_the_destinations_screen(served: Served, tmp_path: Path) -> None:
    browser = chromium()
    assert browser is not None
    profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path))

    started = time.monotonic()
    text, png = asyncio.run(asyncio.wait_for(browse(browser, served.url, profile), timeout=60))
    assert time.monotonic() - started < 60

    shot = tmp_path / "browser-destinations.png"
    shot.write_bytes(png)
    if directory := os.environ.get(SCREENSHOT_DIR_ENV):
        shutil.copy(shot, Path(directory) / shot.name)
    assert "Destinations" in text and DESTINATION in text
    assert "engine off here" in text  # the tab's console has no scheduler of its own
    width, height, channels, rows = png_pixels(png, max_rows=200)
    assert (width, height) == (1200, 700)
    # Not a blank page: the console's header, table and text colours.
    colours = {row[x : x + 3] for row in rows for x in range(0, len(row), channels * 3)}
    assert len(colours) >= 6, colours
