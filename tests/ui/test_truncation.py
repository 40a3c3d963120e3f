"""At 80x24 numbers are never cut and cut text ends with `…`: History's counts (a live run's
too) show whole, and a long email in Failures is cut visibly, never into another address."""

from __future__ import annotations

import re

from sqlalchemy import update

from state.db import Store
from state.models import SyncRun
from tests.ui.conftest import AppFactory
from tests.ui.pilot import painted, press, settle

SMALL = (80, 24)


async def test_history_numbers_are_whole_at_80x24(ui_app: AppFactory, ui_store: Store) -> None:
    runs = SyncRun.__table__
    with ui_store.write() as conn:
        last = conn.execute(runs.select().order_by(runs.c.id.desc())).first()
        assert last is not None and last.status == "running"
        conn.execute(update(runs).where(runs.c.id == last.id).values(delivered=20043))
        conn.execute(
            update(runs).where(runs.c.id == last.id - 1).values(delivered=40000, added=40224)
        )
    app = ui_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await press(pilot, "h")
        text = painted(app)
    assert re.search(r"running +20,043 ", text), text
    # At 80 columns History keeps the outcome; the added count is on the run's own line.
    assert re.search(r"partial +40,000 ", text), text
    assert "running 20 " not in text and "40,00 " not in text


async def test_long_emails_are_cut_with_an_ellipsis(ui_app: AppFactory, ui_store: Store) -> None:
    from state.models import OutboxRow

    outbox = OutboxRow.__table__
    long_email = "chloe.wong294.newsletter.signup@gmail.com"
    with ui_store.write() as conn:
        conn.execute(update(outbox).where(outbox.c.status == "failed").values(email=long_email))
    app = ui_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await press(pilot, "f")
        rows = [line for line in painted(app).splitlines() if "chloe" in line]
    table_rows = [line for line in rows if line.startswith("    chloe")]  # not the detail
    assert table_rows and all("chloe.wong294.newslet…" in line for line in table_rows), rows
