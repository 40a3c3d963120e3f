"""SQLite's page cache: runs, imports and reports keep a small one (a Grow run's peak
memory), the console asks for a larger one (its first paint over a big store)."""

from __future__ import annotations

from pathlib import Path

from state.db import CACHE_KIB, CONSOLE_CACHE_KIB, open_store


def cache_kib(path: Path, **kwargs: int) -> int:
    store = open_store(path, **kwargs)
    try:
        with store.read() as conn:
            return -int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
    finally:
        store.dispose()


def test_each_connection_gets_the_cache_it_was_opened_with(tmp_path: Path) -> None:
    assert CACHE_KIB < CONSOLE_CACHE_KIB
    assert cache_kib(tmp_path / "s.db") == CACHE_KIB
    assert cache_kib(tmp_path / "s.db", cache_kib=CONSOLE_CACHE_KIB) == CONSOLE_CACHE_KIB
