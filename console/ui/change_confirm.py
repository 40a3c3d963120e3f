"""Ask once before a change that sends: switching a destination on, or a save that sends again
what was sent (a ReSci re-export, rows read again from the start). The plan is the dry run's
(`console.engine.dry_run.change_impact`, computed off the UI thread by the caller); this
module words it and asks."""

from __future__ import annotations

from collections.abc import Callable

from textual.screen import Screen

from console.destinations.preview import DryRunPlan
from console.reports.dry_run import detail_lines, headline
from console.ui.screens.confirm import ConfirmScreen


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
    if action:
        return f"{action}? {name}: {sends}"
    if enabling:
        return f"Switch on {name}? {sends[0].upper()}{sends[1:]}"
    return f"Save {name}? {sends[0].upper()}{sends[1:]}"


def detail(plan: DryRunPlan) -> str:
    """The dry run's headline (without the name) and details, one a line."""
    first = headline(plan).removeprefix(f"{plan.destination} ({plan.kind}): ")
    return "\n".join([first, *detail_lines(plan), "P on Destinations shows sample payloads."])


def ask(
    screen: Screen[object],
    plan: DryRunPlan,
    then: Callable[[], None],
    *,
    enabling: bool = False,
    action: str | None = None,
    yes: str = "Yes",
) -> None:
    """Push the confirmation; `then` runs once the operator says yes (on the UI thread)."""

    def answered(confirmed: bool | None) -> None:
        if confirmed:
            then()

    screen.app.push_screen(
        ConfirmScreen(question(plan, enabling=enabling, action=action), detail(plan), yes),
        answered,
    )
