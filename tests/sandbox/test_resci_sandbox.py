"""The ReSci sandbox, driven over real HTTP on 127.0.0.1, with an injected clock."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from console.sandbox import ResciSandbox, SandboxServer, serve_sandboxes
from console.sandbox.resci_upload import parse_multipart

API_KEY = "test-api-key"
HEADER = "record_id,email,account_created_on,full_name\n"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> ResciSandbox:
    return ResciSandbox(api_keys={API_KEY}, job_delay_seconds=10, clock=clock)


@pytest.fixture
def server(sandbox: ResciSandbox) -> Iterator[SandboxServer]:
    with SandboxServer(sandbox) as running:
        yield running


@pytest.fixture
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"ApiKey {API_KEY}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=5) as c:
        yield c


def upload(
    client: httpx.Client,
    csv_text: str,
    filename: str = "users-20240416.csv",
    import_type: str | None = "users",
    part: str = "users",
    idempotency_key: str | None = None,
) -> httpx.Response:
    data = {"import_type": import_type} if import_type is not None else {}
    files = {part: (filename, csv_text.encode("utf-8"), "text/csv")}
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return client.post("/v3/import_jobs", data=data, files=files, headers=headers)


GOOD_CSV = HEADER + "r1,ann@example.com,2024-01-02,Ann\nr2,bob@example.com,2023-12-31,Bob\n"


# -- auth and site --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "ApiKey wrong"}, {"Authorization": f"Bearer {API_KEY}"}],
)
def test_bad_api_key_is_401(server: SandboxServer, headers: dict[str, str]) -> None:
    response = httpx.get(f"{server.url}/v3/site", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid API key"}


def test_site(client: httpx.Client) -> None:
    response = client.get("/v3/site")
    assert response.status_code == 200
    assert response.json() == {"site_id": 4242}


def test_any_key_when_unrestricted() -> None:
    with SandboxServer(ResciSandbox(site_id=7)) as server:
        ok = httpx.get(f"{server.url}/v3/site", headers={"Authorization": "ApiKey anything"})
        empty = httpx.get(f"{server.url}/v3/site", headers={"Authorization": "ApiKey"})
    assert ok.json() == {"site_id": 7}
    assert empty.status_code == 401


# -- import jobs ---------------------------------------------------------------------------------


def test_job_lifecycle(client: httpx.Client, sandbox: ResciSandbox, clock: FakeClock) -> None:
    created = upload(client, GOOD_CSV)
    assert created.status_code == 201
    job_id = created.json()["id"]
    assert created.json() == {"id": job_id, "status": "queued"}

    def poll() -> dict[str, Any]:
        response = client.get(f"/v3/import_jobs/{job_id}")
        assert response.status_code == 200
        return response.json()

    assert poll() == {"id": job_id, "status": "queued", "rows": 2, "imported": 0, "errors": []}
    clock.now += 4.9
    assert poll()["status"] == "queued"
    clock.now += 0.1
    assert poll()["status"] == "processing"
    clock.now += 5
    assert poll() == {"id": job_id, "status": "completed", "rows": 2, "imported": 2, "errors": []}

    job = sandbox.jobs[job_id]
    assert job.csv_text == GOOD_CSV
    assert job.filename == "users-20240416.csv"
    assert job.rows[1] == {
        "record_id": "r2",
        "email": "bob@example.com",
        "account_created_on": "2023-12-31",
        "full_name": "Bob",
    }
    assert job.custom_columns == []


def test_idempotency_key_replays_the_first_job(
    client: httpx.Client, sandbox: ResciSandbox, clock: FakeClock
) -> None:
    first = upload(client, GOOD_CSV, idempotency_key="k1")
    assert first.status_code == 201
    again = upload(client, GOOD_CSV, idempotency_key="k1")
    assert (again.status_code, again.json()) == (201, first.json())
    assert len(sandbox.jobs) == 1 and sandbox.replayed_uploads == 1

    other_file = upload(
        client, GOOD_CSV + "r3,cy@example.com,2024-01-01,Cy\n", idempotency_key="k1"
    )
    assert other_file.status_code == 422
    assert "different file" in other_file.json()["message"]

    # Without a key, or with another key, every upload is a new job.
    assert upload(client, GOOD_CSV).json()["id"] != first.json()["id"]
    assert upload(client, GOOD_CSV, idempotency_key="k2").json()["id"] not in (first.json()["id"],)
    assert len(sandbox.jobs) == 3

    # A key is forgotten after `idempotency_seconds`.
    clock.now += sandbox.idempotency_seconds
    assert upload(client, GOOD_CSV, idempotency_key="k1").json()["id"] != first.json()["id"]
    assert len(sandbox.jobs) == 4


def test_import_type_defaults_to_users(client: httpx.Client) -> None:
    assert upload(client, GOOD_CSV, import_type=None).status_code == 201


def test_per_row_errors(client: httpx.Client, sandbox: ResciSandbox, clock: FakeClock) -> None:
    sandbox.faults.update({"reject_emails": ["Blocked@Example.com"]})
    csv_text = (
        HEADER
        + "r1,ok@example.com,2024-01-02,Ok\n"
        + "r2,not-an-email,2024-01-02,Bad\n"
        + "\n"  # blank lines are skipped and not numbered
        + "r3,c@example.com,2024/01/02,Slash\n"
        + "r4,d@example.com,2024-02-30,Impossible\n"
        + "r5,blocked@example.com,2024-01-02,Blocked\n"
        + ",e@example.com,2024-01-02,NoId\n"
        + "r7,f@example.com,2024-01-02\n"
        + "r8,two@@example.com,2024-01-02,At\n"
        + "r9,g@nodot,2024-01-02,NoDot\n"
        + 'r10,"h@example.com",2024-01-02,"Quoted, Name"\n'
    )
    job_id = upload(client, csv_text).json()["id"]
    clock.now += 10
    body = client.get(f"/v3/import_jobs/{job_id}").json()
    assert body["status"] == "completed"
    assert body["rows"] == 10
    assert body["imported"] == 2
    errors = {e["row"]: e for e in body["errors"]}
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert errors[2] == {"row": 2, "email": "not-an-email", "message": "invalid email address"}
    assert "YYYY-MM-DD" in errors[3]["message"]
    assert "YYYY-MM-DD" in errors[4]["message"]
    assert errors[5]["email"] == "blocked@example.com"
    assert "reject list" in errors[5]["message"]
    assert errors[6]["message"] == "record_id is empty"
    assert "fields" in errors[7]["message"]
    assert errors[8]["message"] == "invalid email address"
    assert errors[9]["message"] == "invalid email address"


def test_custom_columns_are_accepted_and_recorded(
    client: httpx.Client, sandbox: ResciSandbox
) -> None:
    csv_text = (
        "email,record_id,account_created_on,city,in_audience_vip\nz@z.io,1,2024-01-01,Oslo,true\n"
    )
    job_id = upload(client, csv_text).json()["id"]
    assert sandbox.jobs[job_id].custom_columns == ["in_audience_vip"]
    jobs = client.get("/_sandbox/jobs").json()
    assert jobs[0]["custom_columns"] == ["in_audience_vip"]
    assert jobs[0]["rows"] == 1
    assert client.get(f"/_sandbox/jobs/{job_id}/csv").text == csv_text


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"filename": "contacts.csv"}, "must start with 'users'"),
        ({"import_type": "orders"}, "import_type"),
        ({"part": "file"}, "missing file part 'users'"),
        ({"csv_text": "email,record_id\na@b.co,1\n"}, "account_created_on"),
        ({"csv_text": "record_id,email\n"}, "account_created_on"),
        ({"csv_text": ""}, "header row is required"),
        ({"csv_text": "record_id,email,email,account_created_on\n"}, "duplicate"),
        ({"csv_text": 'record_id,email,account_created_on\n"1,a@b.co\n'}, "not a valid CSV"),
    ],
)
def test_upload_refused(client: httpx.Client, kwargs: dict[str, Any], fragment: str) -> None:
    arguments: dict[str, Any] = {"csv_text": GOOD_CSV} | kwargs
    response = upload(client, **arguments)
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_upload_not_utf8_or_not_multipart(client: httpx.Client) -> None:
    files = {"users": ("users.csv", "record_id,email,account_created_on\n".encode("utf-16"))}
    assert client.post("/v3/import_jobs", files=files).status_code == 400
    plain = client.post("/v3/import_jobs", json={"users": GOOD_CSV})
    assert plain.status_code == 400
    assert "multipart" in plain.json()["message"]


def test_failed_job(client: httpx.Client, sandbox: ResciSandbox, clock: FakeClock) -> None:
    sandbox.fail_next_job = True
    failing = upload(client, GOOD_CSV).json()["id"]
    fine = upload(client, GOOD_CSV).json()["id"]
    assert sandbox.fail_next_job is False
    clock.now += 5
    assert client.get(f"/v3/import_jobs/{failing}").json()["status"] == "processing"
    clock.now += 5
    body = client.get(f"/v3/import_jobs/{failing}").json()
    assert body["status"] == "failed"
    assert body["message"]
    assert body["imported"] == 0
    assert client.get(f"/v3/import_jobs/{fine}").json()["status"] == "completed"

    # The control endpoint does the same, with a chosen message.
    reply = client.post("/_sandbox/fail_next_job", json={"message": "disk full"})
    assert reply.json() == {"fail_next_job": True}
    third = upload(client, GOOD_CSV).json()["id"]
    clock.now += 10
    assert client.get(f"/v3/import_jobs/{third}").json()["message"] == "disk full"


def test_unknown_job_is_404(client: httpx.Client) -> None:
    response = client.get("/v3/import_jobs/nope")
    assert response.status_code == 404
    assert "nope" in response.json()["message"]


def test_multipart_parser_raw() -> None:
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="import_type"\r\n\r\n'
        b"users\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="users"; filename="users-1.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n"
        b"a,b\r\n1,2\r\n"
        b"\r\n--XyZ--"
    )
    parts = parse_multipart(body, 'multipart/form-data; boundary="XyZ"')
    assert [(p.name, p.filename, p.data) for p in parts] == [
        ("import_type", None, b"users"),
        ("users", "users-1.csv", b"a,b\r\n1,2\r\n"),
    ]
    assert parts[1].content_type == "text/csv"
    for bad_type in ("text/plain", "multipart/form-data"):
        with pytest.raises(ValueError):
            parse_multipart(body, bad_type)
    with pytest.raises(ValueError):
        parse_multipart(body[:-10], "multipart/form-data; boundary=XyZ")


# -- users and events ------------------------------------------------------------------------------


def test_post_users(client: httpx.Client, sandbox: ResciSandbox) -> None:
    first = client.post(
        "/v3/users", json={"record_id": "r1", "email": "a@b.co", "in_audience_vip": True}
    )
    assert first.status_code == 201
    assert first.json() == {"id": "r1"}
    client.post("/v3/users", json={"record_id": "r1", "email": "a@b.co", "in_audience_vip": False})
    assert sandbox.users["r1"] == {"record_id": "r1", "email": "a@b.co", "in_audience_vip": False}
    assert len(sandbox.user_posts) == 2
    assert client.get("/_sandbox/users").json() == {"r1": sandbox.users["r1"]}


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"email": "a@b.co"}, "record_id"),
        ({"record_id": "r1"}, "email is required"),
        ({"record_id": "r1", "email": "nope"}, "invalid email"),
        ({"record_id": "r1", "email": "Blocked@x.io"}, "reject list"),
    ],
)
def test_post_users_refused(
    client: httpx.Client, sandbox: ResciSandbox, payload: dict[str, Any], fragment: str
) -> None:
    sandbox.faults.update({"reject_emails": ["blocked@x.io"]})
    response = client.post("/v3/users", json=payload)
    assert response.status_code == 400
    assert fragment in response.json()["message"]
    assert sandbox.users == {}
    assert client.post("/v3/users", content=b"[1]").status_code == 400


def _event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "site_id": 4242,
        "event": "shopping_cart",
        "record_id": "r1",
        "email": "a@b.co",
        "properties": {"cart_id": "c1"},
        "timestamp": "2024-04-16T16:54:38Z",
    }
    event.update(overrides)
    return event


def test_post_events(client: httpx.Client, sandbox: ResciSandbox) -> None:
    response = client.post("/v3/events", json=_event())
    assert response.status_code == 201
    assert response.json()["id"]
    assert sandbox.events == [_event()]
    assert client.get("/_sandbox/events").json() == [_event()]


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"event": "Viewed Product Reclaim"}, "event must be one of"),
        ({"site_id": 1}, "site_id"),
        ({"record_id": None, "email": None}, "record_id or email"),
        ({"properties": [1]}, "properties"),
        ({"email": "bad"}, "invalid email"),
    ],
)
def test_post_events_refused(
    client: httpx.Client, sandbox: ResciSandbox, overrides: dict[str, Any], fragment: str
) -> None:
    response = client.post("/v3/events", json=_event(**overrides))
    assert response.status_code == 400
    assert fragment in response.json()["message"]
    assert sandbox.events == []


# -- faults ---------------------------------------------------------------------------------------


def test_5xx_body_has_errors(client: httpx.Client, sandbox: ResciSandbox) -> None:
    sandbox.faults.update({"error_rate": 1.0})
    response = client.get("/v3/site")
    assert response.status_code in (500, 503)
    body = response.json()
    assert body["message"]
    assert isinstance(body["errors"], list)


def test_rate_limit_and_error_share(client: httpx.Client, sandbox: ResciSandbox) -> None:
    sandbox.faults.update({"rate_limit_every": 3, "retry_after_seconds": 2})
    statuses = [client.get("/v3/site").status_code for _ in range(6)]
    assert statuses == [200, 200, 429, 200, 200, 429]
    sandbox.reset(clear_faults=True)
    sandbox.faults.update({"error_rate": 0.5, "seed": 11})
    first = [client.get("/v3/site").status_code for _ in range(40)]
    assert 5 <= sum(s >= 500 for s in first) <= 35
    sandbox.reset()
    assert [client.get("/v3/site").status_code for _ in range(40)] == first


def test_retry_after_header(client: httpx.Client, sandbox: ResciSandbox) -> None:
    sandbox.faults.update({"rate_limit_every": 1, "retry_after_seconds": 3})
    response = client.post("/v3/users", json={"record_id": "r1", "email": "a@b.co"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert sandbox.users == {}


def test_reset_malformed_and_delay(client: httpx.Client, sandbox: ResciSandbox) -> None:
    sandbox.faults.update({"reset_every": 1})
    with pytest.raises(httpx.TransportError):
        client.post("/v3/users", json={"record_id": "r1", "email": "a@b.co"})
    assert "r1" in sandbox.users  # processed, reply lost
    sandbox.faults.update({"reset_every": 0, "malformed_every": 1})
    response = upload(client, GOOD_CSV)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert len(sandbox.jobs) == 1
    sandbox.faults.update({"malformed_every": 0, "delay_seconds": 0.15})
    started = time.perf_counter()
    assert client.get("/v3/site").status_code == 200
    assert time.perf_counter() - started >= 0.15


# -- control endpoints ----------------------------------------------------------------------------


def test_control_endpoints(client: httpx.Client, sandbox: ResciSandbox, clock: FakeClock) -> None:
    upload(client, GOOD_CSV)
    client.post("/v3/users", json={"record_id": "r1", "email": "a@b.co"})
    client.post("/v3/events", json=_event())
    anonymous = httpx.Client(base_url=str(client.base_url))
    assert anonymous.get("/_sandbox/stats").json() == {
        "requests": 3,
        "jobs": 1,
        "users": 1,
        "user_posts": 1,
        "events": 1,
        "replayed_uploads": 0,
    }
    jobs = anonymous.get("/_sandbox/jobs").json()
    assert [(j["status"], j["rows"], j["errors"]) for j in jobs] == [("queued", 2, 0)]
    clock.now += 10
    assert anonymous.get("/_sandbox/jobs").json()[0]["status"] == "completed"
    assert anonymous.get("/_sandbox/user_posts").json() == [{"record_id": "r1", "email": "a@b.co"}]
    assert anonymous.post("/_sandbox/faults", json={"delay_seconds": 0.01}).status_code == 200
    assert sandbox.faults.delay_seconds == 0.01
    assert anonymous.post("/_sandbox/fail_next_job", json={"fail": "yes"}).status_code == 400
    assert anonymous.post("/_sandbox/fail_next_job").json() == {"fail_next_job": True}
    assert anonymous.post("/_sandbox/fail_next_job", json={"fail": False}).json() == {
        "fail_next_job": False
    }
    assert anonymous.post("/_sandbox/reset").status_code == 200
    assert (sandbox.jobs, sandbox.users, sandbox.user_posts, sandbox.events) == ({}, {}, [], [])
    assert sandbox.requests == 0
    assert anonymous.get("/_sandbox/jobs/job_1/csv").status_code == 404
    anonymous.close()


def test_unknown_paths(client: httpx.Client) -> None:
    assert client.get("/v3/nothing").status_code == 404
    assert client.get("/v2/site").status_code == 404
    assert client.post("/v3/site").status_code == 405


# -- CLI helper -----------------------------------------------------------------------------------


def test_serve_sandboxes_prints_urls_and_stops() -> None:
    out = io.StringIO()
    stop = threading.Event()
    ready: list[tuple[str, str]] = []

    def on_ready(segment: SandboxServer, resci: SandboxServer) -> None:
        ready.append((segment.url, resci.url))
        stop.set()  # return as soon as both are up

    thread = threading.Thread(
        target=serve_sandboxes,
        kwargs={"segment_port": 0, "out": out, "stop_event": stop, "on_ready": on_ready},
    )
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive()
    (segment_url, resci_url) = ready[0]
    text = out.getvalue()
    assert segment_url in text
    assert resci_url in text
    assert "sandbox-write-key" in text
    assert "sandbox-api-key" in text
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{segment_url}/_sandbox/stats", timeout=1)
