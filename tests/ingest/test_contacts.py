"""Contacts import: normalisation, upsert by email, seq, and the row and file errors."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from console.core.fields import CONTACT_FIELDS
from console.ingest import (
    FileRejected,
    ImportReport,
    RowError,
    contact_content_hash,
    import_contacts,
    normalise_email,
    reader,
)
from console.ingest import contacts as contacts_module
from console.ingest import report as report_module
from state.db import Store

from .conftest import FROZEN_ISO, WriteFile, contacts_by_email

HEADER = "email,first_name,last_name,address_state,landing_page_url,clicked_at,created_at"


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


# --- normalisation ----------------------------------------------------------------------------


def test_csv_rows_are_normalised(store: Store, write_file: WriteFile) -> None:
    path = write_file(
        "contacts.csv",
        csv_text(
            " Ann.Lee@Example.COM ,Ann,Lee, ca ,http://Shop.Example:8080/launch?a=1,"
            "2024-04-16T18:54:09.668+02:00,2024-04-16",
            "bob@retention.com,,, ,,,",
        ),
    )
    report = import_contacts(store, path)

    assert (report.rows, report.inserted, report.errors) == (2, 2, [])
    ann = contacts_by_email(store)["ann.lee@example.com"]
    assert ann["email_domain"] == "example.com"
    assert ann["address_state"] == "ca"  # trimmed, case kept
    assert ann["landing_page_domain"] == "shop.example"
    assert ann["clicked_at"] == "2024-04-16T16:54:09.668Z"
    assert ann["created_at"] == "2024-04-16T00:00:00.000Z"
    bob = contacts_by_email(store)["bob@retention.com"]
    assert bob["first_name"] is None and bob["address_state"] is None  # empty means none
    assert bob["created_at"] == FROZEN_ISO  # absent: the import time
    assert bob["landing_page_domain"] is None
    assert ann["content_hash"] == contact_content_hash(ann)
    assert sorted(c["seq"] for c in contacts_by_email(store).values()) == [1, 2]


def test_given_domains_are_kept_lower_cased(store: Store, write_file: WriteFile) -> None:
    path = write_file(
        "c.csv",
        "email,email_domain,landing_page_url,landing_page_domain\n"
        "a@example.com,Mail.Example.com,http://x.example/,Brand.Example\n"
        "b@example.com,,shop.example/launch,\n",
    )
    import_contacts(store, path)
    stored = contacts_by_email(store)
    assert stored["a@example.com"]["email_domain"] == "mail.example.com"
    assert stored["a@example.com"]["landing_page_domain"] == "brand.example"
    assert stored["b@example.com"]["landing_page_domain"] == "shop.example"  # no scheme


def test_jsonl_seed_traits(store: Store, write_file: WriteFile) -> None:
    """The seed's Grow identify traits, as one JSONL line, land field for field."""
    traits = {
        "address_city": None,
        "address_line_1": None,
        "address_postal": 2134,
        "address_state": None,
        "clicked_at": "2024-04-16T16:54:09.668Z",
        "created_at": "2024-04-16T16:54:09.668Z",
        "email": "user_testing1@retention.com",
        "email_domain": "retention.com",
        "extra_data": {"coupon": "SPRING", "visits": [1, 2]},
        "first_name": None,
        "id": 6,
        "landing_page_domain": "haley-runolfsdottir.example",
        "landing_page_url": "http://haley-runolfsdottir.example/launa",
        "last_name": None,
        "page_title": None,
        "referrer": "http://huels.test/brianne",
        "updated_at": "2024-04-16T16:54:09.668Z",
    }
    report = import_contacts(store, write_file("grow.jsonl", [traits]))
    assert report.inserted == 1
    stored = contacts_by_email(store)["user_testing1@retention.com"]
    assert stored["id"] == 1  # the file's id (6) is not the store's
    assert stored["address_postal"] == "2134"
    assert stored["extra_data"] == '{"coupon":"SPRING","visits":[1,2]}'
    assert stored["referrer"] == "http://huels.test/brianne"
    assert stored["created_at"] == "2024-04-16T16:54:09.668Z"


def test_ndjson_extension_and_string_extra_data(store: Store, write_file: WriteFile) -> None:
    path = write_file("c.ndjson", [{"email": "a@example.com", "extra_data": '{"x": 1}'}])
    assert import_contacts(store, path).inserted == 1
    assert contacts_by_email(store)["a@example.com"]["extra_data"] == '{"x": 1}'


def test_formula_looking_cells_are_stored_as_given(store: Store, write_file: WriteFile) -> None:
    path = write_file(
        "c.csv", "email,first_name,last_name,page_title\na@example.com,=1+2,+SUM(A1),@cmd\n"
    )
    import_contacts(store, path)
    stored = contacts_by_email(store)["a@example.com"]
    assert (stored["first_name"], stored["last_name"], stored["page_title"]) == (
        "=1+2",
        "+SUM(A1)",
        "@cmd",
    )


def test_id_column_is_ignored(store: Store, write_file: WriteFile) -> None:
    path = write_file("c.csv", "id,email\n999,a@example.com\n")
    import_contacts(store, path)
    assert contacts_by_email(store)["a@example.com"]["id"] == 1


def test_header_case_spaces_and_bom_are_accepted(store: Store, write_file: WriteFile) -> None:
    path = write_file("c.csv", b"\xef\xbb\xbf Email ,First_Name\r\na@example.com,Ann\r\n")
    report = import_contacts(store, path)
    assert report.inserted == 1 and report.errors == []
    assert contacts_by_email(store)["a@example.com"]["first_name"] == "Ann"


# --- upsert -----------------------------------------------------------------------------------


def test_reimport_changes_nothing(store: Store, write_file: WriteFile) -> None:
    path = write_file(
        "c.csv", csv_text("a@example.com,Ann,,,,,", "b@example.com,Bob,,,,,2024-01-01")
    )
    first = import_contacts(store, path)
    before = contacts_by_email(store)
    second = import_contacts(store, path)

    assert (first.inserted, second.inserted, second.updated, second.unchanged) == (2, 0, 0, 2)
    assert contacts_by_email(store) == before


def test_changed_contact_is_updated_with_a_new_seq(store: Store, write_file: WriteFile) -> None:
    import_contacts(
        store, write_file("a.csv", csv_text("a@example.com,Ann,,,,,", "b@x.com,B,,,,,"))
    )
    before = contacts_by_email(store)
    report = import_contacts(
        store,
        write_file("b.csv", csv_text("A@example.com,Anne,,,,,", "b@x.com,B,,,,,", "c@x.com,,,,,,")),
    )

    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 1)
    after = contacts_by_email(store)
    assert after["a@example.com"]["first_name"] == "Anne"
    assert after["a@example.com"]["id"] == before["a@example.com"]["id"]
    assert after["a@example.com"]["created_at"] == before["a@example.com"]["created_at"]
    assert after["a@example.com"]["seq"] > max(c["seq"] for c in before.values())
    assert after["b@x.com"]["seq"] == before["b@x.com"]["seq"]
    assert after["c@x.com"]["seq"] > after["a@example.com"]["seq"]


def test_update_replaces_all_fields(store: Store, write_file: WriteFile) -> None:
    import_contacts(store, write_file("a.csv", "email,first_name,last_name\na@x.com,Ann,Lee\n"))
    import_contacts(store, write_file("b.jsonl", [{"email": "a@x.com", "first_name": "Ann"}]))
    assert contacts_by_email(store)["a@x.com"]["last_name"] is None


def test_same_email_twice_in_a_file_the_later_row_wins(store: Store, write_file: WriteFile) -> None:
    path = write_file(
        "c.csv",
        csv_text(
            "a@x.com,First,,,,,", "b@x.com,Bob,,,,,", "A@X.com,Second,,,,,", "b@x.com,Bob,,,,,"
        ),
    )
    report = import_contacts(store, path)

    assert (report.rows, report.inserted, report.updated, report.unchanged) == (4, 2, 1, 1)
    assert len(contacts_by_email(store)) == 2
    assert contacts_by_email(store)["a@x.com"]["first_name"] == "Second"


def test_later_row_wins_across_chunks(
    store: Store, write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "CHUNK_ROWS", 2)
    rows = [f"u{i}@x.com,Name{i},,,,," for i in range(5)] + ["u0@x.com,Last,,,,,"]
    report = import_contacts(store, write_file("c.csv", csv_text(*rows)))

    assert (report.inserted, report.updated) == (5, 1)
    stored = contacts_by_email(store)
    assert stored["u0@x.com"]["first_name"] == "Last"
    assert stored["u0@x.com"]["seq"] == 6  # seq counted up once from max(seq) across chunks


def test_seq_continues_from_the_store_max(store: Store, write_file: WriteFile) -> None:
    import_contacts(store, write_file("a.csv", csv_text("a@x.com,,,,,,", "b@x.com,,,,,,")))
    import_contacts(store, write_file("b.csv", csv_text("c@x.com,,,,,,")))
    assert contacts_by_email(store)["c@x.com"]["seq"] == 3


# --- row errors -------------------------------------------------------------------------------


def test_bad_rows_are_reported_and_good_rows_land(store: Store, write_file: WriteFile) -> None:
    long_name = "x" * 2_001
    path = write_file(
        "c.csv",
        csv_text(
            "good@x.com,Ann,,,,,",
            "not-an-email,Bob,,,,,",
            f"long@x.com,{long_name},,,,,",
            "short@x.com,Cy",
            "time@x.com,,,,,yesterday,",
            '"multi@x.com","two',
            'lines",,,,,',
            "month@x.com,,,,,,2024-13-01",
            ",nobody,,,,,",
        ),
    )
    report = import_contacts(store, path)

    assert report.rows == 8 and report.inserted == 2  # good and multi land
    reasons = {error.line: error.reason for error in report.errors}
    assert reasons[3] == "email 'not-an-email': An email address must have an @-sign."
    assert reasons[4] == "first_name is longer than 2,000 characters"
    assert reasons[5] == "expected 7 cells as in the header, found 2"
    assert "clicked_at 'yesterday' is not an ISO-8601 timestamp" in reasons[6]
    assert "created_at '2024-13-01'" in reasons[9]
    assert reasons[10] == "email is missing"
    assert contacts_by_email(store)["multi@x.com"]["first_name"] == "two\nlines"
    assert report.summary_line() == "c.csv: 8 rows, 2 new, 0 updated, 0 unchanged, 6 rejected"


def test_extra_data_may_be_up_to_32_kb(store: Store, write_file: WriteFile) -> None:
    ok = "y" * (32 * 1024)
    path = write_file(
        "c.jsonl",
        [{"email": "a@x.com", "extra_data": ok}, {"email": "b@x.com", "extra_data": ok + "y"}],
    )
    report = import_contacts(store, path)
    assert report.inserted == 1
    assert report.errors == [RowError(2, "extra_data is larger than 32 KB")]


def test_jsonl_row_errors(store: Store, write_file: WriteFile) -> None:
    lines = [
        b'{"email": "a@x.com"}',
        b'{"email": "b@x.com", "favourite_colour": "red"}',
        b'{"email": "c@x.com", "first_name": 5}',
        b'["d@x.com"]',
        b'{"email": "e@x.com",',
        b"",
        b'{"email": "f@x.com", "address_postal": 2134.0, "extra_data": [1]}',
        b'{"email": "g@x.com", "created_at": 1713286449}',
        b'{"email": "h@x.com", "page_title": "a\\u0000b"}',
    ]
    report = import_contacts(store, write_file("c.jsonl", b"\n".join(lines) + b"\n"))

    assert report.rows == 8  # the blank line is not a row
    assert report.inserted == 1
    reasons = {error.line: error.reason for error in report.errors}
    assert reasons[2] == "unknown key(s): 'favourite_colour'"
    assert reasons[3] == "first_name must be a string or null, not a number"
    assert reasons[4] == "each line must be a JSON object (one contact)"
    assert reasons[5].startswith("not valid JSON: ") and "column" in reasons[5]
    assert reasons[7] == "extra_data must be an object, a string or null, not an array"
    assert reasons[8] == "created_at must be a string or null, not a number"
    assert reasons[9] == "page_title contains a NUL character"


def test_every_row_bad_changes_nothing(store: Store, write_file: WriteFile) -> None:
    import_contacts(store, write_file("a.csv", csv_text("a@x.com,Ann,,,,,")))
    before = contacts_by_email(store)
    report = import_contacts(store, write_file("b.csv", csv_text("nope,,,,,,", "x@,,,,,,")))

    assert report.all_rejected and report.rejected == 2
    assert "every row was rejected" in report.summary_line()
    assert contacts_by_email(store) == before


def test_errors_kept_are_capped_but_all_counted(
    store: Store, write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "MAX_KEPT_ERRORS", 3)
    report = import_contacts(store, write_file("c.csv", csv_text(*["bad,,,,,,"] * 10)))
    assert (report.rejected, len(report.errors), report.errors_truncated) == (10, 3, True)
    assert [e.line for e in report.errors] == [2, 3, 4]


def test_an_exception_mid_import_leaves_nothing(
    store: Store, write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One transaction: a failure after the first chunk was written rolls it back."""
    import_contacts(store, write_file("a.csv", csv_text("keep@x.com,Kay,,,,,")))
    before = contacts_by_email(store)
    monkeypatch.setattr(reader, "CHUNK_ROWS", 2)
    original = contacts_module._ContactWriter.write
    calls = []

    def failing_write(self: object, conn: object, chunk: list[object]) -> None:
        calls.append(len(chunk))
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        original(self, conn, chunk)  # type: ignore[arg-type]

    monkeypatch.setattr(contacts_module._ContactWriter, "write", failing_write)
    path = write_file(
        "b.csv", csv_text("keep@x.com,Changed,,,,,", *[f"n{i}@x.com,,,,,," for i in range(5)])
    )
    with pytest.raises(RuntimeError, match="disk on fire"):
        import_contacts(store, path)
    assert contacts_by_email(store) == before


# --- whole-file rejections --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "c.csv",
            "email,shoe_size,Colour\na@x.com,9,red\n",
            "unknown column(s) 'shoe_size', 'colour'",
        ),
        ("c.csv", "first_name,last_name\nAnn,Lee\n", "no email column"),
        ("c.csv", "email,first_name,First_Name\na@x.com,a,b\n", "repeats column(s): first_name"),
        ("c.csv", "email,,first_name\na@x.com,,b\n", "empty column name"),
        ("c.csv", "", "no rows"),
        ("c.csv", "email,first_name\n", "no rows"),
        ("c.csv", "\n\n  \n", "no rows"),
        ("c.jsonl", "\n \n", "no rows"),
        ("c.xlsx", "email\na@x.com\n", "unsupported file type ('.xlsx')"),
        ("contacts", "email\na@x.com\n", "unsupported file type (no extension)"),
    ],
)
def test_file_rejected(
    store: Store, write_file: WriteFile, name: str, content: str, message: str
) -> None:
    path = write_file(name, content)
    with pytest.raises(FileRejected) as caught:
        import_contacts(store, path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert contacts_by_email(store) == {}


def test_missing_file_is_rejected(store: Store, tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match="cannot be read"):
        import_contacts(store, tmp_path / "absent.csv")


# --- email and hash ---------------------------------------------------------------------------


def test_normalise_email() -> None:
    assert normalise_email("  User.Name+tag@Example.COM \n") == "user.name+tag@example.com"
    with pytest.raises(ValueError, match="must have an @-sign"):
        normalise_email("user.example.com")
    with pytest.raises(ValueError, match="empty"):
        normalise_email("   ")
    with pytest.raises(ValueError, match="special-use or reserved"):
        normalise_email("a@localhost.test")
    assert normalise_email("Ünïcode@Bücher.example") == "ünïcode@bücher.example"


_EMAILISH = st.text(
    alphabet=st.sampled_from("abcxyz019.-_+@\"'()<>[]\\ ,;:!#$%&*/=?^`{|}~\tÄé"),
    min_size=0,
    max_size=30,
)
_DOMAINS = st.sampled_from(
    [
        "example.com",
        "gmail.com",
        "x.example",
        "localhost",
        "a..b.com",
        "-a.com",
        "a-.com",
        "xn--bcher-kva.example",
        "xn--zz.com",
        "test",
        "invalid.invalid",
        "1.2.3.4",
        "b.c.123",
        "[1.2.3.4]",
        "a.b",
        "ex_ample.com",
        "e.x",
    ]
)


_PLAIN_LOCAL = st.from_regex(r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]{0,70}", fullmatch=True)
_PLAIN_DOMAIN = st.from_regex(r"[a-z0-9-]{0,70}(\.[a-zA-Z0-9-]{0,70}){0,4}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    local=_PLAIN_LOCAL | _EMAILISH,
    domain=_DOMAINS | _PLAIN_DOMAIN | _EMAILISH,
    pad=st.sampled_from(["", " ", "\t"]),
)
def test_fast_email_path_agrees_with_email_validator(local: str, domain: str, pad: str) -> None:
    """normalise_email's shortcut for plain addresses must accept, and normalise, exactly what
    validate_email does."""
    raw = f"{pad}{local}@{domain}{pad}"
    text = raw.strip().lower()
    try:
        expected: str | None = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    if text[:1] in contacts_module.FORMULA_FIRST_CHARACTERS:
        expected = None  # refused on purpose: a spreadsheet would run it as a formula
    try:
        got: str | None = normalise_email(raw)
    except ValueError:
        got = None
    if text:
        assert got == expected


def test_content_hash_is_order_stable_and_complete() -> None:
    values = {name: f"v-{name}" for name in CONTACT_FIELDS}
    assert contact_content_hash(values) == contact_content_hash(dict(reversed(values.items())))
    assert contact_content_hash({"email": "a@x.com"}) == contact_content_hash(
        {"email": "a@x.com", "first_name": None, "id": 3, "seq": 9}
    )
    for name in CONTACT_FIELDS:  # every field, created_at included, is part of the version
        assert contact_content_hash(values | {name: "changed"}) != contact_content_hash(values)
    assert len(contact_content_hash(values)) == 40


def test_summary_line() -> None:
    report = ImportReport(kind="contacts", path="/data/contacts.csv", rows=98, inserted=90)
    report.updated, report.unchanged = 3, 5
    report.reject(7, "bad")
    report.reject(9, "bad")
    assert (
        report.summary_line() == "contacts.csv: 98 rows, 90 new, 3 updated, 5 unchanged, 2 rejected"
    )


# --- memory -----------------------------------------------------------------------------------


def test_memory_stays_flat(
    store: Store, write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are streamed in chunks: Python's peak allocation does not grow with the file."""
    monkeypatch.setattr(reader, "CHUNK_ROWS", 500)

    def peak(rows: int) -> int:
        lines = [
            {"email": f"user{i}@r{rows}.example", "first_name": "N" * 200} for i in range(rows)
        ]
        path = write_file(f"c{rows}.jsonl", lines)
        del lines
        tracemalloc.start()
        try:
            assert import_contacts(store, path).inserted == rows
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(2_000), peak(20_000)
    assert large < small * 2 + 2_000_000, (small, large)


def test_formula_looking_email_is_refused_with_reason() -> None:
    """An email a spreadsheet would run as a formula is refused before it reaches any CSV."""
    for raw in ("=cmd|'/c calc'!a0@example.com", "+1@example.com", "-x@example.com"):
        with pytest.raises(ValueError, match="formula"):
            normalise_email(raw)
