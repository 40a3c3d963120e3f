"""Bad input: binary files, broken encodings, over-long lines, and property tests that random
or mutated files never raise anything but FileRejected and never leave the store half-changed."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.ingest import (
    FileRejected,
    ImportReport,
    import_contacts,
    import_events,
    import_suppressions,
)
from console.ingest.reader import MAX_LINE_BYTES, TEXT_PROBE_BYTES
from state.db import Store, open_store

from .conftest import WriteFile, contacts_by_email, events_by_id, suppression_set

Importer = Callable[[Store, Path], ImportReport]

CONTACTS_CSV = (
    b"email,first_name,last_name,address_postal,landing_page_url,created_at,extra_data\n"
    b"ann@example.com,Ann,Lee,02134,http://shop.example/a,2024-04-16T16:54:09.668Z,\n"
    b'bob@example.com,Bob,"Stone, Jr.",,,2024-04-16,"{""k"": 1}"\n'
    b"cy@retention.com,Cy,,,,,\n"
)
CONTACTS_JSONL = (
    b'{"email": "ann@example.com", "first_name": "Ann", "address_postal": 2134}\n'
    b'{"email": "dee@example.com", "extra_data": {"a": [1, 2]}, "created_at": "2024-01-02"}\n'
    b'{"email": "eve@example.com", "landing_page_url": "http://x.example/p"}\n'
)
EVENTS_JSONL = b"".join(
    orjson.dumps(
        {
            "anonymousId": f"anon-{i}",
            "email": f"user{i}@retention.com",
            "event": "Add To Cart Reclaim",
            "messageId": f"api-{i}",
            "properties": {"Price": "64", "Quantity": i},
            "timestamp": f"2024-04-16T16:54:1{i}.519Z",
            "type": "track",
        }
    )
    + b"\n"
    for i in range(3)
)
SUPPRESSIONS_CSV = b"email,email_md5\nann@example.com,\n,0cc175b9c0f1b6a831c399e269772661\n"
SUPPRESSIONS_TXT = b"ann@example.com\nBob@Example.com\n92eb5ffee6ae2fec3ad71c777531578f\n"

Snapshot = Callable[[Store], dict[str, Any]]


def suppressions_snapshot(store: Store) -> dict[str, Any]:
    return dict.fromkeys(suppression_set(store))


# (importer, file suffix, a valid file, how to read what the store holds)
CASES: dict[str, tuple[Importer, str, bytes, Snapshot]] = {
    "contacts-csv": (import_contacts, ".csv", CONTACTS_CSV, contacts_by_email),
    "contacts-jsonl": (import_contacts, ".jsonl", CONTACTS_JSONL, contacts_by_email),
    "events-jsonl": (import_events, ".jsonl", EVENTS_JSONL, events_by_id),
    "suppressions-csv": (import_suppressions, ".csv", SUPPRESSIONS_CSV, suppressions_snapshot),
    "suppressions-txt": (import_suppressions, ".txt", SUPPRESSIONS_TXT, suppressions_snapshot),
}


def import_and_check(store: Store, case: str, content: bytes, directory: Path) -> None:
    """Import `content` and check the one property every import must keep: FileRejected
    changes nothing; otherwise the counts add up and the store changed by exactly the rows
    reported new or updated."""
    importer, suffix, _, snapshot = CASES[case]
    path = directory / f"input{suffix}"
    path.write_bytes(content)
    before = snapshot(store)
    try:
        report = importer(store, path)
    except FileRejected as exc:
        assert str(path) in str(exc)
        assert snapshot(store) == before
        return
    after = snapshot(store)
    assert report.rows == report.inserted + report.updated + report.unchanged + report.rejected
    assert report.rejected == len(report.errors)
    assert before.keys() <= after.keys()
    assert len(after.keys() - before.keys()) == report.inserted
    changed = [key for key in before if after[key] != before[key]]
    assert len(changed) <= report.updated
    if report.inserted == report.updated == 0:
        assert after == before
    physical_lines = content.count(b"\n") + 1
    assert all(1 <= error.line <= physical_lines for error in report.errors)


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[Store, Path]]:
    """One store for all examples of a test, holding the valid files already, so mutated files
    also produce updates and unchanged rows; the property holds whatever the store holds."""
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        store = open_store(directory / "t.db")
        for case, (importer, suffix, content, _) in CASES.items():
            path = directory / f"seed-{case}{suffix}"
            path.write_bytes(content)
            importer(store, path)
        yield store, directory
        store.dispose()


PROPERTY_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@PROPERTY_SETTINGS
@given(case=st.sampled_from(sorted(CASES)), content=st.binary(max_size=600))
def test_random_bytes(shared: tuple[Store, Path], case: str, content: bytes) -> None:
    store, directory = shared
    import_and_check(store, case, content, directory)


INTERESTING = [b"\x00", b"\xff", b"\xc3", b'"', b",", b"\n", b"\r", b"{", b"}", b"@", b" "]
INTERESTING += [b"\xef\xbb\xbf", b"\\", b"=", b"null", b"[", b"2024-13-40", b"\x1f"]

mutation = st.tuples(
    st.sampled_from(["replace", "insert", "delete", "truncate", "duplicate-line"]),
    st.integers(min_value=0, max_value=10_000),
    st.sampled_from(INTERESTING) | st.binary(min_size=1, max_size=6),
)


def mutate(content: bytes, operations: list[tuple[str, int, bytes]]) -> bytes:
    for operation, position, data in operations:
        at = position % (len(content) + 1)
        if operation == "replace":
            content = content[:at] + data + content[at + len(data) :]
        elif operation == "insert":
            content = content[:at] + data + content[at:]
        elif operation == "delete":
            content = content[:at] + content[at + len(data) :]
        elif operation == "truncate":
            content = content[:at]
        else:
            lines = content.split(b"\n")
            line = lines[position % len(lines)]
            content = b"\n".join([*lines, line])
    return content


@PROPERTY_SETTINGS
@given(case=st.sampled_from(sorted(CASES)), operations=st.lists(mutation, max_size=6))
def test_mutated_valid_files(
    shared: tuple[Store, Path], case: str, operations: list[tuple[str, int, bytes]]
) -> None:
    import_and_check(shared[0], case, mutate(CASES[case][2], operations), shared[1])


@PROPERTY_SETTINGS
@given(
    case=st.sampled_from(sorted(CASES)),
    lines=st.lists(st.text(max_size=40), min_size=1, max_size=8),
)
def test_random_text_lines(shared: tuple[Store, Path], case: str, lines: list[str]) -> None:
    """Text that is valid UTF-8 gets past the binary check and exercises the row parsers."""
    header = CASES[case][2].split(b"\n")[0] + b"\n"
    body = "\n".join(lines).encode("utf-8", "surrogatepass")
    import_and_check(shared[0], case, header + body, shared[1])


# --- binary and encodings ---------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        # Without its byte-order mark UTF-16 is not recognised (tests/ingest/test_encodings.py
        # reads it with one, and with --encoding).
        "email\nann@example.com\n".encode("utf-16-le"),
    ],
    ids=["png", "utf-16-without-bom"],
)
def test_binary_files_are_rejected(store: Store, tmp_path: Path, case: str, content: bytes) -> None:
    importer, suffix, _, _ = CASES[case]
    path = tmp_path / f"in{suffix}"
    path.write_bytes(content)
    with pytest.raises(FileRejected, match="is not a text file"):
        importer(store, path)


def padding_rows(case: str, count: int) -> bytes:
    """Valid rows enough to push a later line past the 64 KB text probe."""
    if case == "contacts-csv":
        return b"".join(b"pad%d@example.com,,,,,,\n" % i for i in range(count))
    return b"".join(orjson.dumps({"email": f"pad{i}@example.com"}) + b"\n" for i in range(count))


@pytest.mark.parametrize("case", ["contacts-csv", "contacts-jsonl"])
def test_invalid_utf8_after_the_probe_is_a_row_error(
    store: Store, tmp_path: Path, case: str
) -> None:
    header = CONTACTS_CSV.split(b"\n")[0] + b"\n" if case == "contacts-csv" else b""
    pad = padding_rows(case, 4_000)
    assert len(header + pad) > TEXT_PROBE_BYTES
    bad = b"m\xfcller@example.com,,,,,,\n" if case == "contacts-csv" else b'{"email": "m\xfc"}\n'
    path = tmp_path / f"in{CASES[case][1]}"
    path.write_bytes(header + pad + bad + pad.replace(b"pad", b"more"))
    report = import_contacts(store, path)

    bad_line = (header + pad).count(b"\n") + 1
    assert report.inserted == 8_000
    assert [(e.line, e.reason) for e in report.errors] == [
        (bad_line, "not valid UTF-8 (byte 2 of the line)")
        if case == "contacts-csv"
        else (bad_line, "not valid UTF-8 (byte 13 of the line)")
    ]


def test_nul_after_the_probe_is_a_row_error(store: Store, tmp_path: Path) -> None:
    header = b"email,first_name\n"
    pad = b"".join(b"pad%d@example.com,x\n" % i for i in range(5_000))
    path = tmp_path / "in.csv"
    path.write_bytes(header + pad + b"nul@example.com,a\x00b\n" + b"last@example.com,z\n")
    report = import_contacts(store, path)
    assert report.inserted == 5_001
    assert [e.line for e in report.errors] == [5_002]
    assert "NUL" in report.errors[0].reason


def test_bom_is_accepted_on_jsonl(store: Store, write_file: WriteFile) -> None:
    report = import_events(store, write_file("e.jsonl", b"\xef\xbb\xbf" + EVENTS_JSONL))
    assert (report.inserted, report.errors) == (3, [])


@pytest.mark.parametrize("case", ["contacts-csv", "events-jsonl"])
def test_over_long_line_is_a_row_error(store: Store, tmp_path: Path, case: str) -> None:
    importer, suffix, valid, _ = CASES[case]
    lines = valid.split(b"\n")
    huge = b"x" * (MAX_LINE_BYTES + 10)
    path = tmp_path / f"in{suffix}"
    path.write_bytes(b"\n".join([*lines[:2], huge, *lines[2:]]))
    report = importer(store, path)
    assert report.inserted == len([line for line in lines if line]) - (case == "contacts-csv")
    assert [(e.line, e.reason) for e in report.errors] == [(3, "line is longer than 1,024 KB")]


def test_whitespace_only_file_has_no_rows(store: Store, write_file: WriteFile) -> None:
    with pytest.raises(FileRejected, match="no rows"):
        import_events(store, write_file("e.jsonl", b"\xef\xbb\xbf\n  \r\n"))


def test_crlf_and_multiline_cells_keep_physical_line_numbers(
    store: Store, write_file: WriteFile
) -> None:
    content = (
        b'email,first_name\r\na@example.com,"two\r\nlines"\r\n\r\nbad,x\r\nc@example.com,y\r\n'
    )
    report = import_contacts(store, write_file("c.csv", content))
    assert report.inserted == 2
    assert [e.line for e in report.errors] == [5]
    assert contacts_by_email(store)["a@example.com"]["first_name"] == "two\r\nlines"
