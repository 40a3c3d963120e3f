"""`printable`: the one place control characters of outside text become visible escapes."""

from __future__ import annotations

import json

import orjson
from hypothesis import given
from hypothesis import strategies as st

from console.core.text import json_printable, printable


def test_control_characters_show_escaped() -> None:
    assert printable("a\x1b]0;pwned\x07b") == "a\\x1b]0;pwned\\x07b"
    assert printable("line\r\nnext\tcol") == "line\\r\\nnext\\tcol"
    assert printable("\x9b31m \x7f \x85 \u202e \u2028") == "\\x9b31m \\x7f \\x85 \\u202e \\u2028"
    assert printable("multi\nline\x1b", keep="\n") == "multi\nline\\x1b"


def test_plain_text_and_markup_pass_unchanged() -> None:
    text = "[@click=app.quit]Détails[/] ünïcödé 😀 – ok"
    assert printable(text) is text


@given(st.text())
def test_nothing_a_terminal_obeys_is_left(text: str) -> None:
    shown = printable(text)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in shown)
    assert "\u202e" not in shown and "\u2028" not in shown


@given(st.lists(st.text()))
def test_json_stays_the_same_value(values: list[str]) -> None:
    document = json_printable(orjson.dumps(values).decode())
    assert json.loads(document) == values
    assert not any(0x7F <= ord(ch) < 0xA0 for ch in document)
