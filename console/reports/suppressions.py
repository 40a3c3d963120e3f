"""The column spec of the suppression list: the Suppressions screen and `suppressions list`
render from it. An MD5 is what is stored (an email is never kept); where and when each came
from is its note, `unknown` for suppressions stored before notes were kept."""

from __future__ import annotations

from console.reports.columns import Column, View
from console.reports.formatting import short_time
from state.suppression_list import SuppressionRow

UNKNOWN = "unknown"

SUPPRESSIONS: View[SuppressionRow] = View(
    (
        Column("email_md5", "Email MD5", lambda r: r.email_md5, width=32),
        Column(
            "added_at",
            "Added (UTC)",
            lambda r: r.added_at,
            text=lambda r: short_time(r.added_at) if r.added_at else UNKNOWN,
            report_text=lambda r: r.added_at or UNKNOWN,
            report_header="added_at",
            width=11,
        ),
        Column(
            "source",
            "Source",
            lambda r: r.source,
            text=lambda r: r.source or UNKNOWN,
            report_text=lambda r: r.source or UNKNOWN,
            width=20,
            grow=60,
        ),
    ),
    screen=("email_md5", "added_at", "source"),
    report=("email_md5", "added_at", "source"),
    export=("email_md5", "source", "added_at"),
)
