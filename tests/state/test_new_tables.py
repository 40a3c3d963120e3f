"""A table a release adds (without a schema version) is created when an older store is opened;
the rows that predate it keep working (suppressions without a note show as unknown)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from state.db import open_store
from state.suppression_list import suppressions_page
from state.suppressions import add_suppressions


def test_an_older_store_gets_the_new_tables(tmp_path: Path) -> None:
    store = open_store(tmp_path / "console.db")
    with store.write() as conn:
        add_suppressions(conn, ["0" * 32])
        conn.exec_driver_sql("DROP TABLE suppression_notes")
    store.dispose()

    reopened = open_store(tmp_path / "console.db")
    assert "suppression_notes" in inspect(reopened.engine).get_table_names()
    with reopened.read() as conn:
        (row,) = suppressions_page(conn)
    assert (row.email_md5, row.source, row.added_at) == ("0" * 32, None, None)
    reopened.dispose()
