"""Ask once before a change that sends: switching a destination on, or a save that sends again
what was sent (a ReSci re-export, rows read again from the start). The plan is the dry run's
(`console.engine.dry_run.change_impact`, computed off the UI thread by the caller); this
module words it and asks."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.screen import Screen

from console.destinations.preview import DryRunPlan
from console.engine.destinations import DestinationRecord
from console.engine.dry_run import change_impact
from console.reports.dry_run import detail_lines, headline
from console.ui.screens.confirm import ConfirmScreen

DRAFT_HINT = (
    "saved as a draft (off): P on Destinations shows what it would send, space switches it on"
)


def question(plan: DryRunPlan, *, enabling: bool, action: str | None = None) -> str:
    """`Switch on resci-main? It starts an export of 20,043 users` and the like."""
    name = plan.destination
    about = "" if plan.complete else "about "
    backfill = plan.backfill
    if backfill is not None:
        what = "an export" if backfill.reason == "no backfill yet" else "a re-export"
        about = "about " if backfill.estimated else ""
        sends = f"it starts {what} of {about}{backfill.users:,} users"
    else:
        sends = f"its next run sends {about}{plan.would_send:,} rows"
    if plan.warnings:
        return f"{name} is a test destination on a production key: go live anyway? ({sends})"
    if action:
        return f"{action}? {name}: {sends}"
    if enabling:
        return f"Switch on {name}? {sends[0].upper()}{sends[1:]}"
    return f"Save {name}? {sends[0].upper()}{sends[1:]}"


def detail(plan: DryRunPlan) -> str:
    """The dry run's headline (without the name) and details, one a line."""
    first = headline(plan).removeprefix(f"{plan.destination} ({plan.kind}): ")
    warned = [f"Careful: {plan.destination}: {warning}." for warning in plan.warnings]
    return "\n".join(
        [*warned, first, *detail_lines(plan), "P on Destinations shows sample payloads."]
    )


def ask(
    screen: Screen[object],
    plan: DryRunPlan,
    then: Callable[[], object],
    *,
    enabling: bool = False,
    action: str | None = None,
    yes: str = "Yes",
) -> None:
    """Push the confirmation; `then` runs once the operator says yes (on the UI thread)."""

    def answered(confirmed: bool | None) -> None:
        if confirmed:
            then()

    if plan.warnings:
        yes = "Yes, on the production key"
    screen.app.push_screen(
        ConfirmScreen(question(plan, enabling=enabling, action=action), detail(plan), yes),
        answered,
    )


def check_then(
    screen: Screen[Any],
    record: DestinationRecord,
    settings: Any,
    then: Callable[[], object],
    *,
    enabled: bool,
    yes: str = "Save",
    not_done: str = "Not saved",
) -> None:
    """Work out off the UI thread what saving `settings` (and `enabled`) would start
    (`change_impact`); ask once when it is worth asking, else run `then` at once. A store that
    cannot be read is said, and nothing is done blind."""

    def work() -> None:
        try:
            plan = change_impact(screen.app.store, record, settings, enabled=enabled)  # type: ignore[attr-defined]
        except Exception as exc:
            screen.app.call_from_thread(
                screen.notify, f"{not_done}: {exc}", severity="warning", markup=False
            )
            return
        if plan is None:
            screen.app.call_from_thread(then)
            return
        screen.app.call_from_thread(
            partial(ask, screen, plan, then, enabling=not record.enabled, yes=yes)
        )

    screen.run_worker(work, thread=True, group="change-check")
