"""A small SMTP server on 127.0.0.1 for tests: it speaks enough ESMTP for `smtplib` (EHLO,
AUTH PLAIN, MAIL, RCPT, DATA, QUIT) and records every message and login."""

from __future__ import annotations

import base64
import socketserver
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


class _Session(socketserver.StreamRequestHandler):
    server: SmtpSink

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 127.0.0.1 test sink ESMTP")
        sender, recipients = "", []
        while line := self.rfile.readline():
            command = line.decode("utf-8", "replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self._say("250-127.0.0.1")
                self._say("250 AUTH PLAIN")
            elif verb == "HELO":
                self._say("250 127.0.0.1")
            elif verb == "AUTH":
                _, user, password = base64.b64decode(command.split()[2]).split(b"\0")
                self.server.logins.append((user.decode(), password.decode()))
                self._say("235 2.7.0 accepted")
            elif verb == "MAIL":
                sender = command.split(":", 1)[1].strip().strip("<>")
                self._say("250 ok")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                self._say("250 ok")
            elif verb == "DATA":
                self._say("354 end with .")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data[1:] if data.startswith(b"..") else data)
                parsed = message_from_bytes(b"".join(lines), policy=policy.default)
                assert isinstance(parsed, EmailMessage)
                self.server.received.append(Received(sender, recipients, parsed))
                sender, recipients = "", []
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            elif verb in ("RSET", "NOOP"):
                self._say("250 ok")
            else:
                self._say("502 not implemented")


class SmtpSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Session)
        self.received: list[Received] = []
        self.logins: list[tuple[str, str]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def __enter__(self) -> SmtpSink:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()
        self.server_close()
