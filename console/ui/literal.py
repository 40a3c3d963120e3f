"""Text from outside, ready for a widget: `Text`, never markup, control characters escaped.

Textual parses a `str` handed to a DataTable cell, an OptionList option or a toast as markup,
so a receiver's `[@click=app.quit]` would become an action and a `[/x]` would crash the
render. Screens hand such values over as `literal(value)` instead.
"""

from __future__ import annotations

from rich.text import Text

from console.core.text import printable


def literal(value: object, style: str = "") -> Text:
    """`value` as one line of literal text (None reads as empty)."""
    text = "" if value is None else str(value)
    return Text(printable(text), style=style, no_wrap=True, end="")
