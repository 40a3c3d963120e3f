"""`python -m bench.preview_bench`: the console's live counts (issue 12's preview) on a large
store.

Fills a store with `--n` contacts (default 1,000,000, the Grow benchmark's shape) and a
suppression list of a tenth of them, then times `console.engine.dry_run.preview`, the function
behind the counts under the destination form and on Mapping, for two settings:

* Segment Grow with the Grow benchmark's email-domain filter and suppression on: contacts that
  pass the filters, suppressed, filtered out;
* a ReSci audience export (`email_domain = 'gmail.com' and address_state = 'CA'`): users a
  backfill sends.

Each is counted within the console's budget (`PREVIEW_BUDGET_SECONDS`: past it the counts are
scaled from the rows read) and without one (exact), and the line says how long each took and
how far the estimate was from the exact count. `--db PATH` reuses (or fills) a store there.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import data
from console.destinations import registry
from console.destinations.preview import DryRunPlan
from console.engine.dry_run import PREVIEW_BUDGET_SECONDS, preview
from console.ingest import import_contacts, import_suppressions
from state.audiences import save_audience
from state.db import Store, open_store

RULE = "email_domain = 'gmail.com' and address_state = 'CA'"


def fill(store: Store, workdir: Path, n: int) -> None:
    """`n` contacts, a suppression list of n / 10 of them and the audience, unless there."""
    with store.read() as conn:
        have = conn.exec_driver_sql("SELECT count(*) FROM contacts").scalar_one()
    if have < n:
        import_contacts(store, data.write_contacts(workdir / "contacts.jsonl", n))
        import_suppressions(
            store, data.write_suppressions(workdir / "suppressions.txt", n, n // 10)
        )
    with store.write() as conn:
        save_audience(conn, "california-gmail", RULE)


def settings() -> dict[str, Any]:
    segment = registry.parse_settings(
        "segment",
        {
            "write_key": "bench-preview-key",
            "grow": True,
            "reclaim": False,
            "suppression": True,
            "filters": {"email_domains": list(data.GROW_DOMAINS)},
        },
    )
    resci = registry.parse_settings(
        "resci",
        {
            "api_key": "bench-preview-key",
            "site_id": "1",
            "export": {
                "audience": "california-gmail",
                "fields": {"first_name": "full_name", "address_city": "city"},
            },
        },
    )
    return {"segment grow": segment, "resci export": resci}


def measure(store: Store, budget: float | None, settings: Any) -> tuple[float, DryRunPlan]:
    started = time.perf_counter()
    plan = preview(store, "bench", settings, budget_seconds=budget)  # type: ignore[arg-type]
    return time.perf_counter() - started, plan


def headline_count(plan: DryRunPlan) -> int:
    """What the line leads with: users a backfill sends, else rows the run sends."""
    return plan.backfill.users if plan.backfill is not None else plan.new_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.preview_bench", description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000, help="contacts in the store")
    parser.add_argument("--db", type=Path, default=None, help="store to reuse or fill")
    parser.add_argument(
        "--budget", type=float, default=PREVIEW_BUDGET_SECONDS, help="the counts' time budget"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="preview-bench-") as tmp:
        workdir = Path(tmp)
        store = open_store(args.db or workdir / "preview.db")
        try:
            started = time.perf_counter()
            fill(store, workdir, args.n)
            print(f"store: {args.n:,} contacts ({time.perf_counter() - started:.0f} s to fill)")
            for label, chosen in settings().items():
                within, estimate = measure(store, args.budget, chosen)
                whole, exact = measure(store, None, chosen)
                shown, true = headline_count(estimate), headline_count(exact)
                error = abs(shown - true) / true * 100 if true else 0.0
                print(
                    f"6 preview {label}: {args.budget:g} s budget: {within:.2f} s, "
                    f"{'estimated' if not estimate.complete else 'exact'} {shown:,} "
                    f"({error:.1f}% off); no budget: {whole:.2f} s, exact {true:,} "
                    f"(suppressed {exact.suppressed:,}, filtered {exact.filtered:,})"
                )
        finally:
            store.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
