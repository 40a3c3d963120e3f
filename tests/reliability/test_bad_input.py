"""Bad input, thrown by hypothesis at the command line the way an operator (or cron) would
feed it: malformed CSV and JSONL (bad UTF-8, BOMs, NUL bytes, huge fields, wrong types,
duplicate and unknown headers, broken quoting, formula-looking cells), bad TOML and bad values
at `config apply`, and the string values the console's destination form hands its settings
models.

What must hold, for every input: no traceback; the exit code says what happened (0 all
imported, 1 some rows rejected, 2 the whole file or config refused); a refused file or config
names the file and the line or field and writes nothing; rejected rows are reported as
`path:line: reason` with a real line number; importing the same file again writes nothing
twice. And the users CSV sent to ReSci neutralises spreadsheet-formula cells.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import tomli_w
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from console.cli import main
from console.config import export_config, validation_message
from console.destinations import registry
from console.engine.destinations import list_destinations
from console.ingest.reader import MAX_LINE_BYTES
from state.db import Store, open_store
from state.models import Contact, Event, Suppression

from .conftest import WRITE_KEY, Figures, fuzz_examples

EXAMPLES = settings(
    # 50 a test; RETENTION_CONSOLE_FUZZ=10000 (the fuzz profile) spreads 10,000 over them.
    max_examples=fuzz_examples(50),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SUMMARY = re.compile(
    r"(?P<rows>[\d,]+) rows, (?P<new>[\d,]+) new, (?P<updated>[\d,]+) updated, "
    r"(?P<unchanged>[\d,]+) unchanged, (?P<rejected>[\d,]+) rejected"
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NASTY_CELLS = [
    "ann@example.com",
    "BOB@Example.COM",
    " cy@example.org ",
    "not-an-email",
    "",
    "2024-04-16",
    "2024-13-45T99:99:99Z",
    "=1+2",
    "+SUM(A1:A9)",
    "-3+cmd",
    "@SUM(A1)",
    '=HYPERLINK("http://evil.example","click")',
    "=cmd|'/C calc'!A0",
    "\t=tab",
    '"quoted, with comma"',
    "line\nbreak",
    '{"k": [1, 2]}',
    "日本語",
    "\u202eevil",
]
CORRUPTIONS = [b"\xff", b"\xc3\x28", b"\x00", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\r", b'"']


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=True)


def assert_no_traceback(result: Result) -> None:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"the command raised {result.exception!r}") from result.exception
    assert "Traceback" not in result.output


def table_count(store: Store, model: type) -> int:
    with store.read() as conn:
        return len(conn.execute(model.__table__.select()).all())  # type: ignore[attr-defined]


@st.composite
def corrupted(draw: st.DrawFn, content: bytes) -> bytes:
    """`content` with a BOM in front, or stray bytes at random places, or neither."""
    if draw(st.booleans()):
        content = b"\xef\xbb\xbf" + content
    for _ in range(draw(st.sampled_from((0, 0, 0, 1, 2)))):
        at = draw(st.integers(0, len(content)))
        content = content[:at] + draw(st.sampled_from(CORRUPTIONS)) + content[at:]
    return content


cells = st.one_of(
    st.sampled_from(NASTY_CELLS),
    st.text(max_size=24),
    st.integers().map(str),
    st.integers(1_990, 2_100).map(lambda n: "x" * n),  # around the 2,000-character limit
)


@st.composite
def contacts_csv(draw: st.DrawFn) -> bytes:
    pool = [
        "email",
        "first_name",
        "last_name",
        "address_state",
        "created_at",
        "extra_data",
        "landing_page_url",
        "id",
        " Email ",
        "EMAIL",
        "bogus",
        "",
    ]
    if draw(st.booleans()):  # a header the importer accepts, so the rows get tested
        header = ["email", *draw(st.lists(st.sampled_from(pool[1:7]), max_size=4, unique=True))]
    else:
        header = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=6))
    rows = draw(
        st.lists(
            st.lists(cells, min_size=max(0, len(header) - 1), max_size=len(header) + 1),
            max_size=8,
        )
    )
    if draw(st.booleans()):
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *rows])
        text = buffer.getvalue()
    else:  # written by hand: no quoting at all
        text = "\n".join(",".join(row) for row in [header, *rows]) + "\n"
    return draw(corrupted(text.encode("utf-8", "surrogatepass")))


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(NASTY_CELLS),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63 - 1), max_size=2),
    st.integers(1, 40).map(lambda n: {"blob": "y" * (n * 1_000)}),  # up to 40 KB properties
)
GOOD_EVENT = {
    "anonymousId": "anon-1",
    "email": "user1@example.com",
    "event": "Order Completed",
    "messageId": "m-1",
    "properties": {"total": "$10"},
    "timestamp": "2024-04-16T16:54:10.519Z",
    "type": "track",
}


@st.composite
def event_line(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["good", "mutated", "mutated", "raw"]))
    if kind == "raw":
        return draw(
            st.one_of(
                st.sampled_from(
                    [b"{", b"[1, 2]", b"null", b'"text"', b'{"event": }', b"", b"{}", b"  "]
                ),
                st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass")),
            )
        )
    event = dict(GOOD_EVENT, messageId=f"m-{draw(st.integers(0, 5))}")
    if kind == "mutated":
        for key in draw(st.lists(st.sampled_from(sorted(GOOD_EVENT)), min_size=1, max_size=3)):
            if draw(st.booleans()):
                event.pop(key, None)
            else:
                event[key] = draw(json_values)
    return orjson.dumps(event)


@st.composite
def events_jsonl(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(event_line(), max_size=8))
    return draw(corrupted(b"\n".join(lines) + (b"\n" if draw(st.booleans()) else b"")))


@st.composite
def suppressions_file(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".csv", ".txt", ".jsonl"]))
    values = draw(
        st.lists(
            st.one_of(
                st.sampled_from(
                    ["ann@example.com", "0cc175b9c0f1b6a831c399e269772661", "xyz", "=1+2", ""]
                ),
                st.text(max_size=20),
            ),
            max_size=8,
        )
    )
    if suffix == ".jsonl":
        body = b"\n".join(
            orjson.dumps({draw(st.sampled_from(["email", "email_md5", "x"])): v}) for v in values
        )
    else:
        header = [draw(st.sampled_from(["email", "email_md5", "email,email_md5", "bogus"]))]
        body = "\n".join((header if suffix == ".csv" else []) + values).encode(
            "utf-8", "surrogatepass"
        )
    return suffix, draw(corrupted(body))


def _check_import(kind: str, suffix: str, content: bytes, model: type, figures: Figures) -> None:
    figures.inputs_tried += 1
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "console.db"
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(content)
        store = open_store(db)
        try:
            result = cli("import", kind, str(path), "--db", str(db))
            assert_no_traceback(result)
            assert result.exit_code in (0, 1, 2), result.output
            event(f"exit {result.exit_code}")
            errors = result.stderr.splitlines()
            if result.exit_code == 2:
                # The whole file refused: said once, naming the file; nothing written.
                assert len(errors) == 1 and errors[0].startswith(f"error: {path}: "), errors
                assert table_count(store, model) == 0
                return
            summary = SUMMARY.search(result.stdout)
            assert summary, result.stdout
            counts = {k: int(v.replace(",", "")) for k, v in summary.groupdict().items()}
            assert counts["rows"] == sum(
                counts[k] for k in ("new", "updated", "unchanged", "rejected")
            )
            assert (counts["rejected"] > 0) == (result.exit_code == 1)
            assert table_count(store, model) == counts["new"]
            lines = content.count(b"\n") + 1
            for error in errors:
                match = re.match(rf"{re.escape(str(path))}:(\d+): \S", error)
                if match is None:
                    assert re.fullmatch(r"\.\.\. and [\d,]+ more rejected rows", error), error
                    continue
                assert 1 <= int(match.group(1)) <= lines, error
            # The same file again: nothing new, nothing written twice.
            again = cli("import", kind, str(path), "--db", str(db))
            assert_no_traceback(again)
            assert again.exit_code == result.exit_code
            repeat = SUMMARY.search(again.stdout)
            assert repeat and repeat["new"] == "0" and repeat["updated"] == "0", again.stdout
            assert table_count(store, model) == counts["new"]
        finally:
            with store.read() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            store.dispose()


@EXAMPLES
@given(content=contacts_csv())
def test_contacts_csv(content: bytes, figures: Figures) -> None:
    _check_import("contacts", ".csv", content, Contact, figures)


@EXAMPLES
@given(content=events_jsonl())
def test_events_jsonl(content: bytes, figures: Figures) -> None:
    _check_import("events", ".jsonl", content, Event, figures)


@EXAMPLES
@given(file=suppressions_file())
def test_suppressions(file: tuple[str, bytes], figures: Figures) -> None:
    suffix, content = file
    _check_import("suppressions", suffix, content, Suppression, figures)


@pytest.mark.parametrize(
    ("name", "content", "exit_code", "says"),
    [
        ("binary.csv", bytes(range(256)) * 10, 2, "is not a text file"),
        ("dup.csv", b"email,first_name,EMAIL\na@example.com,A,b@example.com\n", 2, "repeats"),
        ("empty.csv", b"", 2, "empty"),
        ("contacts.xlsx", b"PK\x03\x04", 2, "unsupported file type"),
        ("missing.csv", None, 2, "cannot be read"),
        (
            "huge.csv",
            b"email,first_name\na@example.com,"
            + b"z" * (MAX_LINE_BYTES + 10)
            + b"\nb@example.com,B\n",
            1,
            ":2: line is longer than",
        ),
    ],
    ids=["binary", "repeated header", "empty", "spreadsheet", "missing", "1 MB line"],
)
def test_named_bad_files(
    tmp_path: Path, name: str, content: bytes | None, exit_code: int, says: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    db = tmp_path / "console.db"
    result = cli("import", "contacts", str(path), "--db", str(db))
    assert_no_traceback(result)
    assert result.exit_code == exit_code, result.output
    assert says in result.stderr
    store = open_store(db)
    try:
        assert table_count(store, Contact) == (1 if exit_code == 1 else 0)
    finally:
        store.dispose()


# -- config apply ------------------------------------------------------------------------------

SEGMENT_BASE: dict[str, Any] = {
    "name": "seg",
    "kind": "segment",
    "write_key": WRITE_KEY,
    "endpoint": "http://127.0.0.1:8765",
}
RESCI_BASE: dict[str, Any] = {
    "name": "resci",
    "kind": "resci",
    "api_key": "env:RESCI_KEY",
    "site_id": "4242",
    "on_site": True,
    "events": {"Order Completed": "checkout_success"},
    "export": {"audience": "ca", "fields": {"first_name": "full_name"}},
}
FIELDS = sorted(
    {
        *registry.kind("segment").settings_model.model_fields,
        *registry.kind("resci").settings_model.model_fields,
    }
    | {"name", "enabled", "bogus"}
)
toml_values = st.one_of(
    st.text(max_size=16),
    st.integers(-5, 3_000),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([*NASTY_CELLS, "env:", "env:NOT A NAME", "us", "eu", "ftp://x", "1"]),
    st.lists(st.text(max_size=8), max_size=3),
    st.dictionaries(
        st.sampled_from(["audience", "fields", "states", "Order Completed", "x"]),
        st.one_of(st.text(max_size=8), st.dictionaries(st.text(max_size=6), st.text(max_size=6))),
        max_size=2,
    ),
)


@st.composite
def config_document(draw: st.DrawFn) -> bytes:
    """A config as an operator might get wrong: valid tables with a few values replaced, a
    missing name, an unknown key, a wrong type; then, sometimes, its text mangled."""
    destinations = []
    for base in draw(st.lists(st.sampled_from([SEGMENT_BASE, RESCI_BASE]), max_size=3)):
        entry = dict(base)
        entry.update(draw(st.dictionaries(st.sampled_from(FIELDS), toml_values, max_size=2)))
        destinations.append(entry)
    rule = draw(
        st.one_of(
            st.just("address_state = 'CA'"),
            st.sampled_from(["address_state = ", "((", "bogus_field = 1", "email contains '@'"]),
            st.text(max_size=20),
        )
    )
    document: dict[str, Any] = {"audiences": [{"name": "ca", "rule": rule}]}
    if destinations:
        document["destinations"] = destinations
    if draw(st.booleans()):
        document[draw(st.sampled_from(["destination", "extra"]))] = {"x": 1}
    text = tomli_w.dumps(document).encode()
    if draw(st.booleans()):
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(text)))
            text = (
                text[:at]
                + draw(st.sampled_from([b"[", b"]", b"=", b'"', b"\n", b"{", b"\xff"]))
                + text[at:]
            )
    return text


@pytest.fixture(scope="module")
def config_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path]]:
    """A store that already holds a destination and an audience, so that "nothing half
    written" is tested against existing rows too."""
    folder = tmp_path_factory.mktemp("config")
    db = folder / "console.db"
    store = open_store(db)
    seed = folder / "seed.toml"
    seed.write_text(
        tomli_w.dumps(
            {
                "audiences": [{"name": "ca", "rule": "address_state = 'CA'"}],
                "destinations": [SEGMENT_BASE],
            }
        )
    )
    assert cli("config", "apply", str(seed), "--db", str(db)).exit_code == 0
    yield store, folder
    store.dispose()


CONFIG_ERROR = re.compile(
    r"error: (?P<path>\S+): (not valid TOML: .+\(at line \d+, column \d+\)|not a UTF-8 text file"
    r"|unknown section\(s\) .+|use \[\[destinations\]\] and \[\[audiences\]\] tables"
    r"|destination ('[^']*'|\"[^\"]*\"|#\d+): [\w.\[\]-]+: .+"
    r"|audience ('[^']*'|\"[^\"]*\"|#\d+): (name|rule): .+)"
)


@EXAMPLES
@given(text=config_document())
def test_config_apply(config_store: tuple[Store, Path], text: bytes, figures: Figures) -> None:
    figures.inputs_tried += 1
    store, folder = config_store
    path = folder / "candidate.toml"
    path.write_bytes(text)
    before = export_config(store, include_secrets=True)
    result = cli("config", "apply", str(path), "--db", str(store.path))
    assert_no_traceback(result)
    assert result.exit_code in (0, 2), result.output
    event(f"exit {result.exit_code}")
    if result.exit_code == 2:
        errors = result.stderr.splitlines()
        assert len(errors) == 1 and CONFIG_ERROR.fullmatch(errors[0]), errors
        assert export_config(store, include_secrets=True) == before  # nothing half-written
        return
    with store.read() as conn:
        names = {d.name for d in list_destinations(conn)}
    for entry in tomllib.loads(text.decode()).get("destinations", []):
        assert str(entry["name"]).strip() in names


# -- the destination form's values --------------------------------------------------------------

form_strings = st.one_of(
    st.text(max_size=20), st.sampled_from([*NASTY_CELLS, "0", "-1", "1441", "15", "env:X", "us"])
)


@EXAMPLES
@given(
    kind=st.sampled_from(["segment", "resci"]),
    values=st.dictionaries(
        st.sampled_from(
            [
                "write_key",
                "api_key",
                "endpoint",
                "group_id",
                "revenue_metric",
                "schedule_minutes",
                "site_id",
                "api_key_label",
            ]
        ),
        form_strings,
        max_size=5,
    ),
)
def test_form_values(kind: str, values: dict[str, str], figures: Figures) -> None:
    """Every value the form can hand over is a string; the settings model either accepts it
    or names each bad field, without echoing what was typed."""
    figures.inputs_tried += 1
    model = registry.kind(kind).settings_model
    secret = "api_key" if kind == "resci" else "write_key"
    data: dict[str, Any] = {"kind": kind, secret: WRITE_KEY}
    data.update({k: v for k, v in values.items() if k in model.model_fields})
    try:
        model.model_validate(data)
    except ValidationError as exc:
        message = validation_message(exc)
        for problem in message.split("; "):
            field, _, reason = problem.partition(": ")
            assert field.split(".")[0] in model.model_fields, problem
            assert reason
        assert WRITE_KEY not in message
        typed = [v for v in values.values() if len(v) > 6]
        assert not any(v in message for v in typed if v not in message.split(": ")[0]), message


# -- the audience rule parser ------------------------------------------------------------------

RULE_TOKENS = [
    "email_domain",
    "address_state",
    "email",
    "created_at",
    "bogus_field",
    "=",
    "!=",
    "<",
    ">",
    "in",
    "contains",
    "and",
    "or",
    "not",
    "(",
    ")",
    "[",
    "]",
    ",",
    "'gmail.com'",
    "'CA'",
    "'",
    '"',
    "'2024-04-16'",
    "42",
    "-1.5e9",
    " ",
    "\x00",
    "\x1b[2J",
    "[@click=app.quit]x[/]",
    "[/x]",
]
rule_texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(RULE_TOKENS), max_size=14).map(" ".join),
    st.lists(st.sampled_from(RULE_TOKENS), max_size=14).map("".join),
)


@EXAMPLES
@given(text=rule_texts)
def test_rule_parser(text: str, figures: Figures) -> None:
    """Any text is a rule or a ValueError naming the position and the reason; a rule that
    parses reads back the same and evaluates on a contact without raising."""
    figures.inputs_tried += 1
    from console.audiences import parse_rule

    try:
        rule = parse_rule(text)
    except ValueError as exc:
        match = re.fullmatch(r"position (\d+): (.+)", str(exc), re.DOTALL)
        assert match, str(exc)
        assert 1 <= int(match.group(1)) <= len(text) + 1, str(exc)
        event("refused")
        return
    event("parsed")
    assert parse_rule(rule.text).text == rule.text
    rule.matches({"email": "ann@gmail.com", "email_domain": "gmail.com", "address_state": "CA"})


# -- ReSci's users CSV neutralises formula cells ------------------------------------------------


def _backfill_rows(tmp_path: Path, contacts: list[dict[str, str]]) -> list[dict[str, str]]:
    from console.destinations.resci.backfill import resolve_export, write_backfill_file
    from console.destinations.resci.settings import ResciExport
    from console.ingest import import_contacts
    from state.audiences import get_audience
    from state.sources import contact_partitions

    db = tmp_path / "console.db"
    store = open_store(db)
    try:
        source = tmp_path / "contacts.jsonl"
        source.write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in contacts))
        import_contacts(store, source)
        (tmp_path / "a.toml").write_text(
            '[[audiences]]\nname = "all"\nrule = "email contains \'@\'"\n'
        )
        assert cli("config", "apply", str(tmp_path / "a.toml"), "--db", str(db)).exit_code == 0
        settings = ResciExport(
            audience="all",
            fields={"first_name": "full_name", "last_name": "address1", "address_city": "city"},
        )
        with store.read() as conn:
            audience = get_audience(conn, settings.audience)
            export = resolve_export(settings, audience.rule if audience else None)
            partitions = contact_partitions(conn, export.columns)
            built = write_backfill_file(export, partitions, tmp_path / "users-x-1.csv")
        with built.csv_path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    finally:
        store.dispose()


@EXAMPLES
@given(
    values=st.lists(
        st.tuples(
            st.sampled_from([c for c in NASTY_CELLS if c.startswith(FORMULA_STARTS)]),
            st.text(max_size=12),
        ).map(lambda t: t[0] + t[1]),
        min_size=3,
        max_size=3,
    )
)
def test_resci_csv_neutralises_formula_cells(values: list[str], figures: Figures) -> None:
    figures.inputs_tried += 1
    with tempfile.TemporaryDirectory() as folder:
        rows = _backfill_rows(
            Path(folder),
            [
                {
                    "email": "ann@example.com",
                    "first_name": values[0],
                    "last_name": values[1],
                    "address_city": values[2],
                }
            ],
        )
    if not rows:
        return  # the importer refused the row (e.g. a NUL or an over-long value)
    (row,) = rows
    for column in ("full_name", "address1", "city"):
        cell = row[column]
        assert not cell.strip() or not cell.startswith(FORMULA_STARTS), (column, cell)


def test_resci_csv_email_column_holds_no_formula(tmp_path: Path) -> None:
    rows = _backfill_rows(
        tmp_path,
        [
            {"email": "=cmd|'/c calc'!a0@example.com", "first_name": "x"},
            {"email": "+1+2@example.com", "first_name": "y"},
            {"email": "-2+3@example.com", "first_name": "z"},
            {"email": "plain@example.com", "first_name": "=1+1"},
        ],
    )
    # Formula-looking emails are refused at import; the good contact's cells are neutralised.
    assert [row["email"] for row in rows] == ["plain@example.com"]
    for row in rows:
        assert not row["email"].startswith(FORMULA_STARTS), row["email"]
        assert not row["full_name"].startswith(FORMULA_STARTS), row["full_name"]
