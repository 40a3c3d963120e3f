"""A dry run's plan in words: the same lines for `--run-once --dry-run` and the console's
dry-run view. Names, emails and payloads are data: callers escape them (`printable`) or show
them as `rich.text.Text`, never as markup."""

from __future__ import annotations

from console.destinations.preview import DryRunPlan


def _n(count: int) -> str:
    return f"{count:,}"


def headline(plan: DryRunPlan) -> str:
    """`segment-main (Segment): would send 412 - 400 new, 12 queued; 3 refused locally, ...`"""
    if plan.halted:
        return f"{plan.destination} ({plan.kind}): would stop - {plan.halted}"
    about = "" if plan.complete else "about "
    parts = [f"{_n(plan.new_rows)} new"]
    if plan.due:
        parts.append(f"{_n(plan.due - plan.suppressed_on_leave)} queued already")
    counted = [
        f"{_n(plan.refused)} refused locally",
        f"{_n(plan.suppressed + plan.suppressed_on_leave)} suppressed",
        f"{_n(plan.filtered)} filtered",
        f"{_n(plan.skipped)} skipped",
    ]
    return (
        f"{plan.destination} ({plan.kind}): would send {about}{_n(plan.would_send)} - "
        + ", ".join(parts)
        + "; "
        + ", ".join(counted)
    )


def detail_lines(plan: DryRunPlan) -> list[str]:
    """What follows the headline: kinds of rows, the backfill, the audience delta, notes."""
    lines: list[str] = []
    if plan.new:
        kinds = ", ".join(f"{_n(count)} {kind}" for kind, count in sorted(plan.new.items()))
        lines.append(f"new rows: {kinds}")
    if plan.known:
        lines.append(f"{_n(plan.known)} planned rows are in the queue already (not queued again)")
    if plan.later:
        lines.append(f"{_n(plan.later)} queued for a retry that falls due later")
    backfill = plan.backfill
    if backfill is not None:
        about = "about " if backfill.estimated else ""
        lines.append(
            f"backfill: an import job of {about}{_n(backfill.users)} "
            f"user{'' if backfill.users == 1 else 's'} of "
            f"{backfill.audience!r} × {backfill.fields} mapped field"
            f"{'' if backfill.fields == 1 else 's'} ({backfill.reason})"
        )
    if plan.entered or plan.changed or plan.left:
        lines.append(
            f"audience delta: {_n(plan.entered)} entered, {_n(plan.changed)} changed, "
            f"{_n(plan.left)} left"
        )
    lines.extend(plan.notes)
    if not plan.complete:
        lines.append(
            f"counted in part: the time budget ran out with {_n(plan.unread)} source rows "
            "unread; counts are scaled from the rows read"
        )
    return lines


def sample_lines(plan: DryRunPlan) -> list[str]:
    """`sample 1 of 3 · identify · ann@example.com` and the body on the next line."""
    lines: list[str] = []
    for number, sample in enumerate(plan.samples, 1):
        head = f"sample {number} of {len(plan.samples)} · {sample.kind} · {sample.email or '—'}"
        if sample.problem:
            head += f" · refused locally: {sample.problem}"
        lines.append(head)
        lines.append(sample.body)
    return lines


def plan_lines(plan: DryRunPlan) -> list[str]:
    """Everything about one destination's plan, headline first."""
    return [
        headline(plan),
        *(f"  {line}" for line in detail_lines(plan)),
        *(f"  {line}" for line in sample_lines(plan)),
    ]


def preview_line(plan: DryRunPlan) -> str:
    """The live counts under a form: what these settings send from the first row on."""
    if plan.halted:
        return f"Preview: {plan.halted}"
    parts: list[str] = []
    backfill = plan.backfill
    if backfill is not None:
        about = "about " if backfill.estimated else ""
        parts.append(
            f"a backfill sends {about}{_n(backfill.users)} "
            f"user{'' if backfill.users == 1 else 's'} of {backfill.audience!r} "
            f"× {backfill.fields} field{'' if backfill.fields == 1 else 's'}"
        )
    about = "" if plan.complete else "about "
    kinds = ", ".join(f"{_n(count)} {kind}" for kind, count in sorted(plan.new.items()))
    rows = f"{about}{_n(plan.new_rows)} row{'' if plan.new_rows == 1 else 's'}"
    parts.append(rows + (f" ({kinds})" if kinds else ""))
    parts.append(f"{about}{_n(plan.suppressed)} suppressed")
    parts.append(f"{about}{_n(plan.filtered)} filtered out")
    parts.append(f"{about}{_n(plan.skipped)} skipped")
    if plan.refused:
        parts.append(f"{about}{_n(plan.refused)} refused locally")
    line = "Preview, every row from the first: " + ", ".join(parts)
    if not plan.complete:
        total = plan.read + plan.unread
        line += f" (estimated from {_n(plan.read)} of {_n(total)} rows: the time budget ran out)"
    return line
