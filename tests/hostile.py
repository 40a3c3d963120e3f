"""Hostile text for the tests of issue 15 (items 1-3): a receiver's reply carrying Rich markup
(an `@click` action, a stray closing tag) and terminal control sequences (an OSC title set ended
by BEL), and a receiver that answers every request with it (the `hostile_url` fixture serves one)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

import orjson

HOSTILE = "[@click=app.quit]Details[/] invalid \x1b]0;pwned\x07"
SHOWN = "[@click=app.quit]Details[/] invalid \\x1b]0;pwned\\x07"
"""How HOSTILE reads on screen and in the command line: literally, its ESC and BEL escaped."""


class HostileReceiver(BaseHTTPRequestHandler):
    """A Segment-shaped receiver that refuses everything with HOSTILE as its message."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = orjson.dumps({"success": False, "code": "invalid", "message": HOSTILE})
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass
