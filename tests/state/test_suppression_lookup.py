"""The suppression lookup every planned chunk makes: exact, and nearly free on a store with
no suppressions (the MD5s are not even computed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from console.core.identity import email_md5
from state.db import open_store
from state.sources import suppressed_hashes
from state.suppressions import add_suppressions


def test_an_empty_list_does_not_consume_the_hashes(tmp_path: Path) -> None:
    consumed: list[str] = []

    def hashes() -> Iterator[str]:
        for email in ("a@x.com", "b@x.com"):
            consumed.append(email)
            yield email_md5(email)

    store = open_store(tmp_path / "s.db")
    with store.read() as conn:
        assert suppressed_hashes(conn, hashes()) == set()
    assert consumed == []
    with store.write() as conn:
        add_suppressions(conn, [email_md5("b@x.com")], "test")
    with store.read() as conn:
        assert suppressed_hashes(conn, hashes()) == {email_md5("b@x.com")}
    assert consumed == ["a@x.com", "b@x.com"]
    store.dispose()
