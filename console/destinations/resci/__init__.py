"""The ReSci kind: an audience exported as an import job, then real-time user updates and
mapped events.

The package: `settings` (the model and its form hints), `adapter` (every host, path, header and
field name; HTTP only), `backfill` (the export resolved, what is sent for a contact, the users
file), `job` (the import job's state machine and the typed cursor notes), `planner` (events,
user updates, rejections; pure), `poller` (the import job and the delta, through the run
context the engine hands it: no store, no SQL here), `tag` (the on-site tag).

A run of a ReSci destination goes: the poller (`poller.poll`: start, resume or poll the backfill
import job; once it has completed, the audience delta as `user update` rows), the planner
(`planner.ResciPlanner`: mapped events, which never wait for the backfill), then the engine's
generic delivery. What callers and operators may rely on:

Backfill
  The first run of an export scans the whole audience in `seq` order (never all of it in
  memory) and writes the users CSV (`record_id`, `email`, `account_created_on`, the mapped
  fields in mapping order, then the membership attribute `audience_<name>` = `true`) next to
  the store, together with a side file of (contact id, hash of what was sent). It records an
  `import_jobs` row in state `uploading` before uploading, uploads the file as one job and
  stores ReSci's job id. Later runs ask ReSci for the job's status once each. When it
  completes, one transaction records the membership from the side file, every row ReSci
  rejected as a failure of kind `import row` with ReSci's message (retrying one re-sends that
  user with `POST /v3/users`), the imported rows as today's completions, and the job's final
  state; then the files are removed. A rejected user still counts as a member, so a later
  run does not re-send (and fail) them each time: the operator's retry re-sends them, and so
  does any change to the fields they are sent. Until then no user update is planned (events
  still flow: they are not audience updates).

Resuming
  A restart while a job is queued or processing polls the same ReSci job; no second job is
  started. A process that dies between recording `uploading` and storing ReSci's reply (or
  an upload whose reply is lost: connection reset, timeout, unreadable body) leaves a job
  without a remote id; the next run uploads the same file again under the same name
  (`users-<destination>-<job>.csv`) and the same `Idempotency-Key` (derived from the job and
  the file's bytes), so ReSci answers with the job it already started instead of a second
  one. A file that was not complete is built anew (ReSci cannot have it). Only a complete
  file that vanished from the import folder between upload and reply is rebuilt under a new
  key; if its contents changed, ReSci then holds two jobs of the same users: an import is an
  upsert by `record_id`, so that repeats data but never loses or corrupts it.

Failed jobs
  A job ReSci reports `failed` (or a file it refuses with a 4xx, or a job it no longer
  knows) is final: its state and ReSci's message stay in `import_jobs`, the run ends in
  error with that message (three such runs in a row mark the destination unhealthy, which
  slows the retries to the engine's probe interval), and the next run builds and uploads a
  fresh backfill of the current audience. Its users are not listed as per-email failures,
  since the next job sends them all again. A 5xx, 429 or unreadable reply to a status
  request is noted on the run and asked again next run.

Edits
  * A changed audience rule is picked up by the next delta over every contact: users who no
    longer match leave (membership attribute false), new matches enter; no new import job.
  * A changed field mapping (fields added, removed or re-targeted) starts a new backfill job
    of the whole audience with the new columns, once any pending job has finished: one file
    instead of one call per member; real-time updates wait for it, as on the first export.
    Members who no longer match are told they left by the first delta after it completes.
  * Another audience for the destination is a new backfill of that audience; when it
    completes, members of the previous audience are sent its membership attribute as false.
  * Removing the export stops audience updates; ReSci keeps its users as last told.
  * `exit_mode = "unsubscribe"` also sets `date_unsubscribed` (today) on users who leave; a
    user who comes back is not re-subscribed, since an unsubscribe is the person's consent
    choice and only ReSci or the person should lift it.

Deltas after the backfill
  Each run sends users who entered or whose sent fields changed (`POST /v3/users` with
  record_id, email, account_created_on, the mapped fields and `audience_<name>: true`) and users
  who left (the same with `audience_<name>: false`). Only contacts whose `seq` moved since the
  last run are read, unless the rule changed or a re-backfill completed (then all contacts).

Events
  With Enable On-Site, events whose name is mapped become `POST /v3/events` rows with the
  reserved name, and an event already named after a reserved one (`view`, ` Click `) is sent
  under it; other events are skipped and counted; an event without an email is a
  local failure, since ReSci could not tell whose it is.
"""

from __future__ import annotations

from console.core.secrets import mask_secret
from console.destinations.base import DestinationAdapter
from console.destinations.kind import Capabilities, DestinationKind
from console.destinations.resci.planner import ResciPlanner
from console.destinations.resci.poller import adapter_for, poll
from console.destinations.resci.preview import preview
from console.destinations.resci.settings import (
    RESCI_ALWAYS_SENT,
    RESCI_RESERVED_EVENTS,
    RESCI_USER_FIELDS,
    ResciSettings,
)
from console.destinations.resci.tag import onsite_tag


def _adapter(settings: ResciSettings) -> DestinationAdapter:
    return adapter_for(settings)


def _confirm(settings: ResciSettings) -> list[str]:
    # A test audience on a production key sends test users into the live account's flows.
    if settings.test and settings.production_key:
        return [
            "it is marked test, but its API key is marked production: its users would reach "
            "the live ReSci account and its welcome flows"
        ]
    return []


def _describe(settings: ResciSettings) -> list[tuple[str, str]]:
    # One (label, value) pair a panel line, shown as `label value`.
    export = settings.export
    events = ", ".join(f"{c} → {r}" for c, r in settings.events.items()) or "none"
    key = (
        (f"Authorization {settings.authorization}", mask_secret(settings.api_key))
        if settings.authorization
        else (
            settings.api_key_label,
            mask_secret(settings.api_key)
            + (f" ({settings.api_key_description})" if settings.api_key_description else ""),
        )
    )
    job = settings.export_label or ""
    if job and settings.export_description:
        job += f" ({settings.export_description})"
    return [
        (
            key[0],
            key[1]
            + (" · production key" if settings.production_key else " · test account key")
            + f" · endpoint {settings.endpoint}",
        ),
        (
            "Site ID",
            f"{settings.site_id or '—'} · on-site {'on' if settings.on_site else 'off'} · "
            + ("test destination · " if settings.test else "")
            + (
                f"exports audience {export.audience} ({len(export.fields)} fields, exit as "
                f"{export.exit_mode})" + (f" · job {job}" if job else "")
                if export
                else "no audience export"
            ),
        ),
        ("Events:", events),
    ]


KIND = DestinationKind(
    name="resci",
    label="ReSci",
    summary="Retention Science: audience export and mapped events",
    settings_model=ResciSettings,
    capabilities=Capabilities(
        events=True,
        event_mapping=True,
        reserved_events=RESCI_RESERVED_EVENTS,
        audience_export=True,
        user_fields=RESCI_USER_FIELDS,
        always_sent=RESCI_ALWAYS_SENT,
        import_jobs=True,
    ),
    adapter=_adapter,
    describe=_describe,
    planner=ResciPlanner(),
    poller=poll,
    preview=preview,
    confirm=_confirm,
    site_tag=onsite_tag,
)
