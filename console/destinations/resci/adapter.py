"""Retention Science (ReSci) Data API: every host, path, header and field name the console uses.

ReSci's own API reference is not public, so the contract lives in this one module: an operator
holding ReSci's documentation corrects it here and nowhere else. Each name is marked as
[C] confirmed by public material or [A] assumed (see shared RESCI-API.md):

* [C] Authentication header `Authorization: ApiKey <key>`.
* [C] Import jobs are multipart/form-data posts to `/v3/import_jobs` with the form field
  `import_type` and one file part named after the record type (`users`).
* [C] Users file columns `record_id`, `email`, `account_created_on` (YYYY-MM-DD) and the
  documented user columns (`settings.RESCI_USER_FIELDS`); a date in `date_unsubscribed`
  unsubscribes the user; `record_id` is the MD5 hex of the trimmed, lower-cased email (ReSci's
  Magento extension); the file name starts with `users`.
* [C] Error replies carry a JSON `message` (a 500 may add `errors`); 5xx and connection errors
  are retried, a 4xx never is.
* [C] Reserved event names `click`, `view`, `email_open`, `email_click`, `shopping_cart`,
  `checkout_success`, `search` (`settings.RESCI_RESERVED_EVENTS`).
* [A] Base URL `https://data.retentionscience.com` (`settings.RESCI_DEFAULT_ENDPOINT`),
  overridable per destination.
* [A] `POST /v3/import_jobs` answers `201 {"id", "status": "queued"}`; the file part's name is
  `users-<destination>-<job>.csv` (the contract only asks for a `users` prefix; the rest lets a
  duplicate upload be recognised).
* [A] `POST /v3/import_jobs` honours an `Idempotency-Key` header (IETF httpapi draft
  "The Idempotency-Key HTTP Header Field") for at least 24 hours: a second upload with the same
  key and the same file answers with the first job instead of starting another; the same key
  with a different file answers 422; 409 while the first upload is still being taken in. The
  console sends one key per import job and file, so an upload whose reply was lost (killed,
  connection reset, late or unreadable reply) is safe to send again. Were ReSci to ignore the
  header, a resent upload would start a second job of the same users (an upsert by
  `record_id`: repeated, never lost).
* [A] `GET /v3/import_jobs/{id}` answers `{"id", "status": queued|processing|completed|failed,
  "rows", "imported", "errors": [{"row", "email", "message"}], "message"}`.
* [A] `POST /v3/users` takes a JSON object of user fields with `record_id` and `email` and
  answers 201; audience membership is the custom attribute `audience_<name>` (true / false).
* [A] `POST /v3/events` takes `{"site_id", "event", "record_id", "email", "properties",
  "timestamp"}` and answers 201.
* [A] `GET /v3/site` answers `{"site_id"}` (used by Test connection).
* [A] 429 carries `Retry-After` in seconds.
* [C] On-site tag ("Waves"): the `_rsq` queue and its pushes (`_setSiteId`, `_setUserId`,
  `_setUserEmail`, `_enableOnsite`, `_addItem`, `_addOrder`, `_setAction`, `_setParams`,
  `_track` last) and the loader `waves/v3/w.js` (host as in ReSci's published tags).

The adapter never touches the database; it classifies each reply per row (delivered, retry,
failed with ReSci's own words) and raises `DestinationHalted` on 401/403.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from console.core.vocab import ImportJobStatus, RowKind
from console.destinations.base import (
    FEEDBACK_LIMIT,
    ConnectionTestFailed,
    DestinationHalted,
    Outcome,
    OutgoingRow,
    RowOutcome,
    SendResult,
    halt_on_redirect,
    is_retryable_status,
    parse_retry_after,
    redirect_problem,
    reply_feedback,
    send_each,
    transport_feedback,
    undocumented_success,
)
from console.destinations.resci.settings import (
    RESCI_ALWAYS_SENT,
    RESCI_DEFAULT_ENDPOINT,
    RESCI_RESERVED_EVENTS,
)

DEFAULT_ENDPOINT = RESCI_DEFAULT_ENDPOINT  # [A]
AUTH_HEADER = "Authorization"  # [C]
AUTH_SCHEME = "ApiKey"  # [C]

PATH_SITE = "/v3/site"  # [A]
PATH_IMPORT_JOBS = "/v3/import_jobs"  # [C]
PATH_IMPORT_JOB = "/v3/import_jobs/{id}"  # [A]
PATH_USERS = "/v3/users"  # [A]
PATH_EVENTS = "/v3/events"  # [A]

IDEMPOTENCY_HEADER = "Idempotency-Key"  # [A] on POST /v3/import_jobs

IMPORT_TYPE_FIELD = "import_type"  # [C]
IMPORT_TYPE_USERS = "users"  # [C]
USERS_FILE_PART = "users"  # [C] the file part is named after the record type
USERS_FILE_PREFIX = "users"  # [C] the file name starts with `users`

# Users file / user update fields.
RECORD_ID = "record_id"  # [C]
EMAIL = "email"  # [C]
ACCOUNT_CREATED_ON = "account_created_on"  # [C] YYYY-MM-DD
DATE_UNSUBSCRIBED = "date_unsubscribed"  # [C]
FIXED_COLUMNS: tuple[str, ...] = RESCI_ALWAYS_SENT  # record_id, email, account_created_on
MEMBERSHIP_PREFIX = "audience_"  # [A] custom attribute `audience_<name>`

# Import job reply.
JOB_ID = "id"  # [A]
JOB_STATUS = "status"  # [A]
CREATED_BODY = ("id",)  # [C] a created user (or event, [A]) answers 201 with its `id`
JOB_ROWS = "rows"  # [A]
JOB_IMPORTED = "imported"  # [A]
JOB_ERRORS = "errors"  # [A] list of {"row", "email", "message"}
JOB_MESSAGE = "message"  # [A]
# [A] The states ReSci reports (`uploading` is the console's own, before ReSci has the file).
JOB_STATES = frozenset(s for s in ImportJobStatus if s is not ImportJobStatus.UPLOADING)

# Event body.
EVENT_SITE_ID = "site_id"  # [A]
EVENT_NAME = "event"  # [A]
EVENT_PROPERTIES = "properties"  # [A]
EVENT_TIMESTAMP = "timestamp"  # [A]
RESERVED_EVENTS = RESCI_RESERVED_EVENTS  # [C]

SITE_ID = "site_id"  # [A] GET /v3/site reply

# On-site tag (tag.py writes it).
ONSITE_QUEUE = "_rsq"  # [C]
ONSITE_LOADER_URL = "https://d1stxfv94hrhia.cloudfront.net/waves/v3/w.js"  # [C]

# Single-row calls on the wire at once per `send`; ReSci documents no bulk user call.
CONCURRENCY = 8
# An upload is one large body; ReSci may take a while to answer once it has it all.
UPLOAD_TIMEOUT = httpx.Timeout(30.0, read=300.0, write=300.0)
USER_AGENT = "retention-console/0.1"

# A cell a spreadsheet would run as a formula (CSV injection): prefixed with an apostrophe.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_SLUG = re.compile(r"[^a-z0-9]+")


def record_id(email: str) -> str:
    """ReSci's `record_id`: the MD5 hex of the trimmed, lower-cased email (as ReSci's Magento
    extension derives it), so the same person gets the same id from every source."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def account_created_on(created_at: str | None) -> str:
    """`YYYY-MM-DD` of a stored timestamp (the store keeps `YYYY-MM-DDTHH:MM:SS.mmmZ`); empty
    when the contact has none (ReSci then rejects the row with its own message)."""
    return (created_at or "")[:10]


def membership_attribute(audience: str) -> str:
    """The custom user attribute that says whether a user is in the audience:
    `audience_` and the name lower-cased with runs of other characters as `_`
    (`california-gmail` -> `audience_california_gmail`)."""
    slug = _SLUG.sub("_", audience.lower()).strip("_")
    return MEMBERSHIP_PREFIX + (slug or "unnamed")


def csv_cell(value: object) -> str:
    """A mapped field as a CSV cell: None is empty; text that a spreadsheet would evaluate as a
    formula (starting with = + - @, a tab or a carriage return) gets a leading apostrophe, the
    usual CSV-injection guard. Only mapped fields pass through here: `record_id`, `email` and
    `account_created_on` are sent as they are, since altering an address breaks it."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def users_file_name(destination: str, job_id: int) -> str:
    """`users-<destination>-<job>.csv`: starts with `users` as ReSci requires, and carries the
    console's job number so a second upload of the same job can be recognised."""
    slug = _SLUG.sub("-", destination.lower()).strip("-") or "destination"
    return f"{USERS_FILE_PREFIX}-{slug}-{job_id}.csv"


def import_idempotency_key(destination_id: int, job_id: int, csv_path: Path) -> str:
    """`rc-import-` and the SHA-256 of the destination, the console's job number and the file's
    bytes: the same for every upload of one job's file, and a new key for a file rebuilt with
    other contents (which ReSci would otherwise refuse as a reused key)."""
    digest = hashlib.sha256(f"{destination_id}\x1f{job_id}\x1f".encode())
    with csv_path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return "rc-import-" + digest.hexdigest()


def user_body(
    email: str,
    created_at: str | None,
    mapped: Sequence[tuple[str, object]],
    audience: str,
    *,
    member: bool = True,
    unsubscribed_on: str | None = None,
) -> dict[str, Any]:
    """The `POST /v3/users` body: record_id, email, account_created_on, the mapped fields
    (target name, value; None is sent as null so a cleared field clears in ReSci), the
    audience membership attribute, and `date_unsubscribed` when given."""
    body: dict[str, Any] = {
        RECORD_ID: record_id(email),
        EMAIL: email,
        ACCOUNT_CREATED_ON: account_created_on(created_at),
    }
    for target, value in mapped:
        body[target] = value
    body[membership_attribute(audience)] = member
    if unsubscribed_on:
        body[DATE_UNSUBSCRIBED] = unsubscribed_on
    return body


def event_body(
    site_id: str, reserved: str, email: str, properties: Mapping[str, Any], timestamp: str
) -> dict[str, Any]:
    """The `POST /v3/events` body for one mapped event."""
    return {
        EVENT_SITE_ID: int(site_id) if site_id.isdigit() else site_id,
        EVENT_NAME: reserved,
        RECORD_ID: record_id(email),
        EMAIL: email,
        EVENT_PROPERTIES: dict(properties),
        EVENT_TIMESTAMP: timestamp,
    }


# --- import jobs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRejection:
    """A row ReSci did not import: 1-based data row, the email ReSci read, its reason."""

    row: int
    email: str
    message: str


@dataclass(frozen=True)
class JobStatus:
    """What ReSci says of an import job."""

    status: ImportJobStatus
    rows: int = 0
    imported: int = 0
    errors: list[JobRejection] = field(default_factory=list)
    message: str | None = None

    @property
    def done(self) -> bool:
        return not self.status.pending


class ImportJobError(Exception):
    """An import-job call did not give a usable answer. `retryable` says whether asking again
    later may succeed (5xx, 429, an unreadable reply) or not (ReSci refused: 4xx)."""

    def __init__(self, message: str, http_status: int | None = None, *, retryable: bool) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.retryable = retryable


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _snippet(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return (text[:120] + "...") if len(text) > 120 else (text or "an empty body")


def _as_int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_job_status(body: Mapping[str, Any]) -> JobStatus:
    """A `GET /v3/import_jobs/{id}` body as a JobStatus; ValueError when it has no known
    status."""
    status = body.get(JOB_STATUS)
    if not isinstance(status, str) or status not in JOB_STATES:
        raise ValueError(f"unknown import job status {status!r}")
    errors: list[JobRejection] = []
    for item in body.get(JOB_ERRORS) or []:
        if isinstance(item, dict):
            errors.append(
                JobRejection(
                    _as_int(item.get("row")),
                    str(item.get("email") or ""),
                    str(item.get("message") or "rejected by ReSci")[:FEEDBACK_LIMIT],
                )
            )
    message = body.get(JOB_MESSAGE)
    return JobStatus(
        status=ImportJobStatus(status),
        rows=_as_int(body.get(JOB_ROWS)),
        imported=_as_int(body.get(JOB_IMPORTED)),
        errors=errors,
        message=str(message)[:FEEDBACK_LIMIT] if message else None,
    )


class ResciAdapter:
    """Sends `user update` and `event` outbox rows one call each (ReSci has no bulk call in
    the contract), at most CONCURRENCY at once; a retried `import row` (a row ReSci rejected
    from an import file) is sent as a user update. Also starts and polls import jobs."""

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        site_id: str | None = None,
        *,
        key_label: str = "ReSci API key",
        timeout: float | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.site_id = site_id
        self.key_label = key_label
        # None: the engine's client decides (EngineOptions.timeout_seconds).
        self.timeout: Any = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        self.concurrency = max(1, concurrency)
        self._auth = {AUTH_HEADER: f"{AUTH_SCHEME} {api_key}", "User-Agent": USER_AGENT}
        self._json_headers = {**self._auth, "Content-Type": "application/json"}

    # -- real-time rows ---------------------------------------------------------------------

    async def send(self, client: httpx.AsyncClient, rows: Sequence[OutgoingRow]) -> SendResult:
        """One outcome per row sent. Raises DestinationHalted (key refused, redirect) carrying
        the outcomes of calls that came back; the rest of the batch stays queued."""
        return await send_each(rows, lambda row: self._send_one(client, row), self.concurrency)

    def _path_for(self, kind: str) -> str | None:
        if kind in (RowKind.USER_UPDATE, RowKind.IMPORT_ROW):
            return PATH_USERS
        if kind == RowKind.EVENT:
            return PATH_EVENTS
        return None

    async def _send_one(self, client: httpx.AsyncClient, row: OutgoingRow) -> RowOutcome:
        path = self._path_for(row.kind)
        if path is None:
            return RowOutcome(row.id, Outcome.FAILED, None, f"ReSci has no call for {row.kind!r}")
        try:
            response = await client.post(
                self.endpoint + path,
                content=row.payload,
                headers=self._json_headers,
                timeout=self.timeout,
            )
        except httpx.TransportError as exc:
            return RowOutcome(row.id, Outcome.RETRY, None, transport_feedback(exc))
        status = response.status_code
        if 200 <= status < 300:
            # ReSci documents `201 {"id"}` for a user or event it took; a login page or an
            # empty body is someone else answering, retried rather than booked delivered.
            problem = undocumented_success(response, CREATED_BODY)
            if problem is not None:
                return RowOutcome(row.id, Outcome.RETRY, status, problem)
            return RowOutcome(row.id, Outcome.DELIVERED, status)
        halt_on_redirect(response, self.endpoint + path)
        feedback = reply_feedback(response)
        if status in (401, 403):
            raise DestinationHalted(self._refused(status, feedback), status)
        if is_retryable_status(status):
            wait = parse_retry_after(response.headers.get("Retry-After"))
            return RowOutcome(row.id, Outcome.RETRY, status, feedback, wait)
        return RowOutcome(row.id, Outcome.FAILED, status, feedback)

    def _refused(self, status: int, feedback: str) -> str:
        return f"ReSci refused the API key {self.key_label!r} ({status}): {feedback}"

    # -- test connection --------------------------------------------------------------------

    async def test_connection(self, client: httpx.AsyncClient) -> str:
        """Reads the Site ID with the key. Returns "Site ID 4242 confirmed"; raises
        ConnectionTestFailed for a refused key, a Site ID that differs from the configured
        one, an unreachable host or a reply that is not what the contract says."""
        try:
            response = await client.get(
                self.endpoint + PATH_SITE, headers=self._auth, timeout=self.timeout
            )
        except httpx.TransportError as exc:
            raise ConnectionTestFailed(
                f"could not reach ReSci at {self.endpoint}: {transport_feedback(exc)}"
            ) from exc
        status = response.status_code
        if problem := redirect_problem(response, self.endpoint + PATH_SITE):
            raise ConnectionTestFailed(problem)
        if status in (401, 403):
            raise ConnectionTestFailed(self._refused(status, reply_feedback(response)))
        if status >= 400:
            raise ConnectionTestFailed(
                f"ReSci answered GET {PATH_SITE} with HTTP {status}: {reply_feedback(response)}"
            )
        body = _json_object(response)
        if body is None or body.get(SITE_ID) in (None, ""):
            raise ConnectionTestFailed(
                f"ReSci accepted the key but its reply to GET {PATH_SITE} has no site_id "
                f"(HTTP {status}: {_snippet(response)})"
            )
        remote = str(body[SITE_ID])
        if self.site_id and remote != self.site_id:
            raise ConnectionTestFailed(
                f"the API key works but belongs to Site ID {remote}, while this destination "
                f"is set to Site ID {self.site_id}; correct site_id"
            )
        if not self.site_id:
            return f"API key accepted; ReSci Site ID is {remote} (set site_id to use it)"
        return f"Site ID {remote} confirmed"

    # -- import jobs ------------------------------------------------------------------------

    async def start_import(
        self, client: httpx.AsyncClient, csv_path: Path, filename: str, idempotency_key: str
    ) -> str:
        """Upload a users CSV as one import job, streamed from the file; returns ReSci's job
        id. Sending the same file again with the same `idempotency_key` returns the same job.
        Raises DestinationHalted (key refused), ImportJobError (refused file: not retryable;
        5xx / 429 / 409 / unreadable reply: retryable) or httpx.TransportError."""
        with csv_path.open("rb") as handle:
            response = await client.post(
                self.endpoint + PATH_IMPORT_JOBS,
                data={IMPORT_TYPE_FIELD: IMPORT_TYPE_USERS},
                files={USERS_FILE_PART: (filename, handle, "text/csv")},
                headers={**self._auth, IDEMPOTENCY_HEADER: idempotency_key},
                timeout=UPLOAD_TIMEOUT,
            )
        status = response.status_code
        halt_on_redirect(response, self.endpoint + PATH_IMPORT_JOBS)
        if status in (401, 403):
            raise DestinationHalted(self._refused(status, reply_feedback(response)), status)
        if status >= 400:
            # 409: an earlier upload with this key is still being taken in; ask again later.
            raise ImportJobError(
                f"ReSci did not accept the import file (HTTP {status}): {reply_feedback(response)}",
                status,
                retryable=is_retryable_status(status) or status == 409,
            )
        body = _json_object(response)
        job_id = body.get(JOB_ID) if body else None
        if job_id in (None, ""):
            raise ImportJobError(
                f"ReSci answered the upload with HTTP {status} but no job id: {_snippet(response)}",
                status,
                retryable=True,
            )
        return str(job_id)

    async def job_status(self, client: httpx.AsyncClient, remote_id: str) -> JobStatus:
        """ReSci's view of an import job. Raises DestinationHalted (key refused),
        ImportJobError (unknown job: not retryable; 5xx / 429 / unreadable reply: retryable)
        or httpx.TransportError."""
        response = await client.get(
            self.endpoint + PATH_IMPORT_JOB.format(id=remote_id),
            headers=self._auth,
            timeout=self.timeout,
        )
        status = response.status_code
        halt_on_redirect(response, self.endpoint + PATH_IMPORT_JOB.format(id=remote_id))
        if status in (401, 403):
            raise DestinationHalted(self._refused(status, reply_feedback(response)), status)
        if status >= 400:
            retryable = is_retryable_status(status)
            raise ImportJobError(
                f"ReSci answered the status request for import job {remote_id} with HTTP "
                f"{status}: {reply_feedback(response)}",
                status,
                retryable=retryable,
            )
        body = _json_object(response)
        if body is None:
            raise ImportJobError(
                f"ReSci's status reply for import job {remote_id} is not JSON: "
                f"{_snippet(response)}",
                status,
                retryable=True,
            )
        try:
            return parse_job_status(body)
        except ValueError as exc:
            raise ImportJobError(
                f"ReSci's status reply for import job {remote_id}: {exc}", status, retryable=True
            ) from None
