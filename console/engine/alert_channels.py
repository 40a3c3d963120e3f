"""Sending one alert through each configured channel: an HTTP POST of Slack-compatible JSON
(a Slack incoming-hook URL works as it is), a command (the alert as JSON on stdin, bounded in
time) and e-mail over SMTP (stdlib `smtplib`).

A channel that fails says why in plain words; it never raises into a run, and its words never
carry a secret (the URL holds its token: it is never part of a message).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from email.message import EmailMessage

import httpx
import orjson

from console.core.secrets import SecretError, resolve_secret
from console.destinations.base import transport_feedback
from console.engine.alert_settings import (
    AlertSettings,
    CommandChannel,
    EmailChannel,
    HttpChannel,
)

STDERR_LIMIT = 200


@dataclass(frozen=True)
class Alert:
    """A destination went from healthy to failing, or recovered."""

    destination: str
    kind: str
    failing: bool
    reason: str | None
    run_id: int | None
    status: str
    delivered: int
    failed: int
    queued: int
    at: str

    @property
    def text(self) -> str:
        if self.failing:
            return (
                f"Retention Console: {self.destination} is failing - {self.reason} "
                f"(run {self.run_id})"
            )
        return (
            f"Retention Console: {self.destination} recovered - run {self.run_id} "
            f"{self.status}, {self.delivered} delivered"
        )

    def payload(self) -> dict[str, object]:
        """Slack's `{"text": ...}` plus the structured fields a script reads."""
        return {
            "text": self.text,
            "destination": self.destination,
            "kind": self.kind,
            "state": "failing" if self.failing else "recovered",
            "reason": self.reason,
            "run": self.run_id,
            "status": self.status,
            "delivered": self.delivered,
            "failed": self.failed,
            "queued": self.queued,
            "at": self.at,
        }


class ChannelFailed(Exception):
    """A channel could not deliver the alert; the message says why, without secrets."""


async def send_alert(settings: AlertSettings, alert: Alert, timeout_seconds: float) -> list[str]:
    """Send through every configured channel at once; returns one problem per channel that
    failed (`alert via email failed: ...`), empty when all went out."""
    sends: list[tuple[str, Awaitable[None]]] = []
    if settings.http is not None:
        sends.append(("http", _post(settings.http, alert, timeout_seconds)))
    if settings.command is not None:
        sends.append(("command", _command(settings.command, alert)))
    if settings.email is not None:
        sends.append(("email", asyncio.to_thread(_email, settings.email, alert)))
    outcomes = await asyncio.gather(*(send for _, send in sends), return_exceptions=True)
    problems = []
    for (name, _), outcome in zip(sends, outcomes, strict=True):
        if isinstance(outcome, ChannelFailed | SecretError):
            problems.append(f"alert via {name} failed: {outcome}")
        elif isinstance(outcome, BaseException):
            problems.append(f"alert via {name} failed: {type(outcome).__name__}: {outcome}")
    return problems


async def _post(channel: HttpChannel, alert: Alert, timeout_seconds: float) -> None:
    url = resolve_secret(channel.url)
    body = orjson.dumps(alert.payload())
    try:
        async with (
            httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False) as client,
            client.stream(
                "POST", url, content=body, headers={"content-type": "application/json"}
            ) as reply,
        ):
            status = reply.status_code  # the body is not read: nothing in it matters
    except httpx.HTTPError as exc:
        raise ChannelFailed(transport_feedback(exc)) from None
    except ValueError:
        raise ChannelFailed("the alert URL is not a usable http(s) URL") from None
    if not 200 <= status < 300:
        raise ChannelFailed(f"the alert URL answered HTTP {status}")


async def _command(channel: CommandChannel, alert: Alert) -> None:
    try:
        process = await asyncio.create_subprocess_exec(
            *channel.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise ChannelFailed(f"cannot start {channel.argv[0]}: {exc.strerror or exc}") from None
    try:
        _, stderr = await asyncio.wait_for(
            process.communicate(orjson.dumps(alert.payload()) + b"\n"), channel.timeout_seconds
        )
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ChannelFailed(
            f"{channel.argv[0]} did not finish within {channel.timeout_seconds:g} s (killed)"
        ) from None
    if process.returncode:
        said = stderr.decode("utf-8", "replace").strip().splitlines()
        raise ChannelFailed(
            f"{channel.argv[0]} exited with {process.returncode}"
            + (f": {said[-1][:STDERR_LIMIT]}" if said else "")
        )


def _email(channel: EmailChannel, alert: Alert) -> None:
    message = EmailMessage()
    message["Subject"] = alert.text
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message.set_content(
        alert.text + "\n\n" + orjson.dumps(alert.payload(), option=orjson.OPT_INDENT_2).decode()
    )
    password = resolve_secret(channel.password) if channel.password is not None else None
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_seconds) as smtp:
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if channel.username is not None and password is not None:
                smtp.login(channel.username, password)
            smtp.send_message(message)
    except smtplib.SMTPException as exc:
        raise ChannelFailed(f"SMTP {channel.host}:{channel.port}: {_smtp_words(exc)}") from None
    except OSError as exc:
        raise ChannelFailed(
            f"SMTP {channel.host}:{channel.port}: {exc.strerror or type(exc).__name__}"
        ) from None


def _smtp_words(exc: smtplib.SMTPException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        said = exc.smtp_error
        return f"{exc.smtp_code} {said.decode('utf-8', 'replace') if isinstance(said, bytes) else said}"
    return str(exc) or type(exc).__name__
