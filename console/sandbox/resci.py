"""A local receiver for the ReSci (Retention Science) Data API contract the console assumes.

It implements exactly the "Assumed" section of ``RESCI-API.md`` (ReSci's own reference is not
public): what a caller may rely on is listed here.

* Auth: header ``Authorization: ApiKey <key>``; missing or unknown -> 401
  ``{"message": "Invalid API key"}``. With ``api_keys=None`` any non-empty key is accepted.
* ``GET /v3/site`` -> 200 ``{"site_id": <int>}``.
* ``POST /v3/import_jobs``: multipart/form-data with the field ``import_type`` (default
  ``users``; anything else -> 400) and a file part named ``users`` whose filename starts with
  ``users`` and holds a UTF-8 CSV with a header row including ``record_id``, ``email`` and
  ``account_created_on`` -> 201 ``{"id": "<job id>", "status": "queued"}``. Missing part, bad
  filename, undecodable or unparsable CSV, missing or duplicate columns -> 400 ``{"message"}``.
  Columns outside ReSci's documented user columns are accepted as custom attributes and listed
  in ``ImportJob.custom_columns``. With an ``Idempotency-Key`` header, a second upload under
  the same API key and key within ``idempotency_seconds`` (default 24 hours) answers with the
  first job's reply and starts nothing when its file is byte-for-byte the same, and 422
  ``{"message"}`` when the file differs; each such replay counts in ``replayed_uploads``.
* ``GET /v3/import_jobs/{id}`` -> ``{"id", "status", "rows", "imported", "errors"}``. The status
  follows the time since creation (``clock``, default ``time.monotonic``): ``queued`` for the
  first half of ``job_delay_seconds``, then ``processing``, then ``completed`` (or ``failed``
  with a ``message`` when the job was marked to fail). ``imported`` and ``errors`` are only
  filled in once completed (0 and ``[]`` before). Each error is ``{"row", "email", "message"}``
  where row 1 is the first data row (blank lines are skipped and not numbered). A row is
  rejected when its email is not ``local@domain.tld`` (one ``@``, a dot inside the domain, no
  spaces), ``account_created_on`` is not a real ``YYYY-MM-DD`` date, ``record_id`` is empty,
  its field count differs from the header's, or its email is on ``Faults.reject_emails``
  (checked when the job is created). Unknown id -> 404 ``{"message"}``.
* ``POST /v3/users``: JSON object with non-empty ``record_id`` and ``email`` -> 201
  ``{"id": record_id}``; missing fields, invalid or rejected email -> 400 ``{"message"}``.
  ``users[record_id]`` holds the *merged* fields of all posts for that id (a later post
  overrides keys, keeps others); ``user_posts`` holds every accepted post as sent.
* ``POST /v3/events``: JSON ``{"site_id", "event", "record_id", "email", "properties",
  "timestamp"}``; ``event`` one of the reserved names in :data:`EVENT_NAMES`, ``site_id`` equal
  to the sandbox's, and ``record_id`` or ``email`` present -> 201 ``{"id": "<event id>"}``; else
  400 ``{"message"}``.
* Faults (:mod:`console.sandbox.faults`) apply to every ``/v3`` request; 5xx bodies are
  ``{"message", "errors": [...]}``; 429 carries ``Retry-After`` in seconds.
* ``fail_next_job = True`` (or ``POST /_sandbox/fail_next_job``, optional body
  ``{"fail": bool, "message": str}``) makes the next created import job end ``failed``.

Control endpoints (no auth): ``GET /_sandbox/stats``, ``GET /_sandbox/jobs``,
``GET /_sandbox/jobs/{id}/csv`` (the uploaded CSV text), ``GET /_sandbox/users``,
``GET /_sandbox/user_posts``, ``GET /_sandbox/events``, ``GET|POST /_sandbox/faults``,
``POST /_sandbox/fail_next_job``, ``POST /_sandbox/reset``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from console.sandbox.faults import Faults
from console.sandbox.resci_upload import (
    check_users_csv,
    is_valid_email,
    parse_multipart,
)
from console.sandbox.server import (
    Request,
    Response,
    SandboxApp,
    json_response,
    parse_json_object,
)

USER_COLUMNS = (
    "record_id",
    "email",
    "account_created_on",
    "date_unsubscribed",
    "full_name",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "country",
    "phone",
    "birthday",
    "gender",
    "registration_source",
)
"""User columns ReSci documents; any other column is taken as a custom attribute."""
EVENT_NAMES = frozenset(
    {"click", "view", "email_open", "email_click", "shopping_cart", "checkout_success", "search"}
)
"""Reserved event names accepted by ``POST /v3/events``."""

_JOB_PATH_RE = re.compile(r"/v3/import_jobs/([^/]+)")
_CONTROL_CSV_RE = re.compile(r"jobs/([^/]+)/csv")


@dataclass
class ImportJob:
    """One uploaded import job, kept whole so tests can inspect what the console sent."""

    id: str
    import_type: str
    filename: str
    created_at: float
    delay_seconds: float
    csv_text: str
    columns: list[str]
    custom_columns: list[str]
    row_count: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    fail_message: str | None = None

    @property
    def imported(self) -> int:
        """Rows imported once the job completes (rows minus rejected rows)."""
        return 0 if self.fail_message is not None else self.row_count - len(self.errors)

    @property
    def rows(self) -> list[dict[str, str]]:
        """The data rows as dicts (parsed from ``csv_text`` on each access; blank lines skipped)."""
        reader = csv.reader(io.StringIO(self.csv_text, newline=""))
        next(reader, None)
        return [dict(zip(self.columns, row, strict=False)) for row in reader if row]

    def status(self, now: float) -> str:
        """queued -> processing (after half the delay) -> completed/failed (after the delay)."""
        elapsed = now - self.created_at
        if elapsed >= self.delay_seconds:
            return "failed" if self.fail_message is not None else "completed"
        if elapsed >= self.delay_seconds / 2:
            return "processing"
        return "queued"

    def reply(self, now: float) -> dict[str, Any]:
        """The ``GET /v3/import_jobs/{id}`` body at time ``now``."""
        status = self.status(now)
        done = status in ("completed", "failed")
        body: dict[str, Any] = {
            "id": self.id,
            "status": status,
            "rows": self.row_count,
            "imported": self.imported if done else 0,
            "errors": list(self.errors) if status == "completed" else [],
        }
        if status == "failed":
            body["message"] = self.fail_message
        return body


class ResciSandbox(SandboxApp):
    """ReSci Data API receiver. See the module docstring for the exact behaviour."""

    name = "resci"

    def __init__(
        self,
        api_keys: set[str] | None = None,
        site_id: int = 4242,
        job_delay_seconds: float = 2.0,
        faults: Faults | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(faults)
        self.api_keys: set[str] | None = set(api_keys) if api_keys is not None else None
        """Accepted API keys; None accepts any non-empty key."""
        self.site_id = site_id
        self.job_delay_seconds = job_delay_seconds
        """Seconds from creation until a job completes (half of it queued, half processing)."""
        self.clock = clock
        self.fail_next_job: bool = False
        """When True, the next created import job ends ``failed`` (then this resets to False)."""
        self.fail_next_job_message: str = "sandbox: import job failed (fail_next_job)"
        self.jobs: dict[str, ImportJob] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.user_posts: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.idempotency_seconds = 24 * 3600.0
        self.uploads_by_key: dict[tuple[str, str], tuple[str, str, float]] = {}
        """(API key, Idempotency-Key) -> (file SHA-256, job id, time of the first upload)."""
        self.replayed_uploads = 0

    # -- state ------------------------------------------------------------------------------

    def reset(self, clear_faults: bool = False) -> None:
        """Forget jobs, users, events and requests; keep faults unless ``clear_faults``."""
        with self.lock:
            super().reset(clear_faults)
            self.jobs = {}
            self.users = {}
            self.user_posts = []
            self.events = []
            self.fail_next_job = False
            self._ids = itertools.count(1)
            self.uploads_by_key = {}
            self.replayed_uploads = 0

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "jobs": len(self.jobs),
            "users": len(self.users),
            "user_posts": len(self.user_posts),
            "events": len(self.events),
            "replayed_uploads": self.replayed_uploads,
        }

    def error_payload(self, status: int, message: str) -> dict[str, Any]:
        if status >= 500:
            return {"message": message, "errors": [message]}
        return {"message": message}

    def control(self, request: Request, action: str) -> Response | None:
        if request.method == "GET":
            with self.lock:
                if action == "jobs":
                    now = self.clock()
                    return json_response(
                        200, [self._job_summary(j, now) for j in self.jobs.values()]
                    )
                if action == "users":
                    return json_response(200, self.users)
                if action == "user_posts":
                    return json_response(200, self.user_posts)
                if action == "events":
                    return json_response(200, self.events)
                match = _CONTROL_CSV_RE.fullmatch(action)
                if match and match.group(1) in self.jobs:
                    job = self.jobs[match.group(1)]
                    return Response(200, job.csv_text.encode(), content_type="text/csv")
            return None
        if request.method == "POST" and action == "fail_next_job":
            data = parse_json_object(request.body) if request.body.strip() else {}
            fail = data.get("fail", True)
            message = data.get("message", self.fail_next_job_message)
            if not isinstance(fail, bool) or not isinstance(message, str):
                raise ValueError("fail must be a boolean and message a string")
            with self.lock:
                self.fail_next_job = fail
                self.fail_next_job_message = message
            return json_response(200, {"fail_next_job": fail})
        return None

    @staticmethod
    def _job_summary(job: ImportJob, now: float) -> dict[str, Any]:
        return {
            "id": job.id,
            "status": job.status(now),
            "filename": job.filename,
            "rows": job.row_count,
            "imported": job.imported,
            "errors": len(job.errors),
            "columns": job.columns,
            "custom_columns": job.custom_columns,
            "failed": job.fail_message is not None,
        }

    # -- API --------------------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if not path.startswith("/v3/"):
            return self.error(404, f"no such endpoint: {request.path}")
        if not self._authorised(request):
            return self.error(401, "Invalid API key")
        method = request.method
        if path == "/v3/site":
            if method != "GET":
                return self.error(405, "use GET /v3/site")
            return json_response(200, {"site_id": self.site_id})
        if path == "/v3/import_jobs":
            if method != "POST":
                return self.error(405, "use POST /v3/import_jobs")
            return self._create_job(request)
        match = _JOB_PATH_RE.fullmatch(path)
        if match:
            if method != "GET":
                return self.error(405, "use GET /v3/import_jobs/{id}")
            with self.lock:
                job = self.jobs.get(match.group(1))
                now = self.clock()
            if job is None:
                return self.error(404, f"import job {match.group(1)} not found")
            return json_response(200, job.reply(now))
        if path == "/v3/users":
            if method != "POST":
                return self.error(405, "use POST /v3/users")
            return self._post_user(request)
        if path == "/v3/events":
            if method != "POST":
                return self.error(405, "use POST /v3/events")
            return self._post_event(request)
        return self.error(404, f"no such endpoint: {request.path}")

    def _authorised(self, request: Request) -> bool:
        scheme, _, key = request.header("authorization").strip().partition(" ")
        key = key.strip()
        if scheme != "ApiKey" or not key:
            return False
        return self.api_keys is None or key in self.api_keys

    # import jobs

    def _create_job(self, request: Request) -> Response:
        try:
            parts = parse_multipart(request.body, request.header("content-type"))
        except ValueError as exc:
            return self.error(400, str(exc))
        fields = {p.name: p for p in parts}
        import_type = "users"
        if "import_type" in fields:
            import_type = fields["import_type"].data.decode("utf-8", "replace").strip() or "users"
        if import_type != "users":
            return self.error(400, f"import_type {import_type!r} is not supported (only users)")
        part = fields.get("users")
        if part is None or part.filename is None:
            return self.error(400, "missing file part 'users'")
        if not part.filename.startswith("users"):
            return self.error(400, f"file name must start with 'users', got {part.filename!r}")
        try:
            text = part.data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return self.error(400, f"users file is not UTF-8: {exc}")
        with self.lock:
            reject = set(self.faults.reject_emails)
        try:
            columns, row_count, errors = check_users_csv(text, reject)
        except ValueError as exc:
            return self.error(400, str(exc))
        known = set(USER_COLUMNS)
        key = request.header("idempotency-key").strip()
        scope = (request.header("authorization").strip(), key)
        file_digest = hashlib.sha256(part.data).hexdigest()
        with self.lock:
            now = self.clock()
            if key and scope in self.uploads_by_key:
                first_digest, first_job, first_at = self.uploads_by_key[scope]
                if now - first_at < self.idempotency_seconds:
                    if first_digest != file_digest:
                        return self.error(
                            422, "Idempotency-Key was already used with a different file"
                        )
                    self.replayed_uploads += 1
                    return json_response(201, {"id": first_job, "status": "queued"})
            job_id = f"job_{next(self._ids)}"
            if key:
                self.uploads_by_key[scope] = (file_digest, job_id, now)
            fail_message = None
            if self.fail_next_job:
                fail_message = self.fail_next_job_message
                self.fail_next_job = False
            self.jobs[job_id] = ImportJob(
                id=job_id,
                import_type=import_type,
                filename=part.filename,
                created_at=now,
                delay_seconds=self.job_delay_seconds,
                csv_text=text,
                columns=columns,
                custom_columns=[c for c in columns if c not in known],
                row_count=row_count,
                errors=errors,
                fail_message=fail_message,
            )
        return json_response(201, {"id": job_id, "status": "queued"})

    # users and events

    def _post_user(self, request: Request) -> Response:
        try:
            data = parse_json_object(request.body)
        except ValueError as exc:
            return self.error(400, str(exc))
        record_id = data.get("record_id")
        if isinstance(record_id, bool) or not isinstance(record_id, str | int) or record_id == "":
            return self.error(400, "record_id is required")
        email = data.get("email")
        problem = self._email_problem(email)
        if problem is not None:
            return self.error(400, problem)
        key = str(record_id)
        with self.lock:
            self.users[key] = {**self.users.get(key, {}), **data}
            self.user_posts.append(data)
        return json_response(201, {"id": record_id})

    def _post_event(self, request: Request) -> Response:
        try:
            data = parse_json_object(request.body)
        except ValueError as exc:
            return self.error(400, str(exc))
        event = data.get("event")
        if event not in EVENT_NAMES:
            names = ", ".join(sorted(EVENT_NAMES))
            return self.error(400, f"event must be one of {names}, not {event!r}")
        site_id = data.get("site_id")
        if isinstance(site_id, bool) or str(site_id) != str(self.site_id):
            return self.error(400, f"site_id {site_id!r} does not match this site ({self.site_id})")
        record_id = data.get("record_id")
        email = data.get("email")
        if record_id in (None, "") and email in (None, ""):
            return self.error(400, "record_id or email is required")
        if email not in (None, ""):
            problem = self._email_problem(email)
            if problem is not None:
                return self.error(400, problem)
        properties = data.get("properties")
        if properties is not None and not isinstance(properties, dict):
            return self.error(400, "properties must be an object")
        timestamp = data.get("timestamp")
        if timestamp is not None and not isinstance(timestamp, str):
            return self.error(400, "timestamp must be a string")
        with self.lock:
            event_id = f"evt_{next(self._ids)}"
            self.events.append(data)
        return json_response(201, {"id": event_id})

    def _email_problem(self, email: Any) -> str | None:
        if email in (None, ""):
            return "email is required"
        if not is_valid_email(email):
            return f"invalid email address: {email!r}"
        if self.faults.is_rejected(email):
            return f"rejected: {email.strip().lower()} is on the sandbox's reject list"
        return None
