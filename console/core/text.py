"""Text from outside (receivers' replies, names, emails, file cells) made safe to show.

A terminal obeys control characters: ESC starts sequences that set the window title, clear the
screen or plant OSC 8 links; `\\r` overwrites what was printed; BEL rings. Whatever shows text
that came from outside, the console or the command line, passes it through `printable` first,
so such characters appear as visible escapes (`\\x1b`) and the operator sees what was sent.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls (which some terminals obey as 8-bit CSI/OSC), plus the
# Unicode line/paragraph separators (they break a line as \n does) and the bidirectional
# overrides and isolates (they reorder what is shown: "Trojan source").
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_INVISIBLE = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))]
_FORMAT = ["\u2028", "\u2029", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]
_ESCAPES = {
    ord(ch): _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
    for ch in (*_INVISIBLE, *_FORMAT)
}
_FOUND = re.compile("[" + re.escape("".join(_INVISIBLE) + "".join(_FORMAT)) + "]")


def printable(text: str, *, keep: str = "") -> str:
    """`text` with every control character replaced by a visible escape (`\\x1b`, `\\r`, `\\n`,
    `\\u202e`); characters in `keep` (say `"\\n"` for a multi-line panel) pass unchanged. Plain
    text comes back as the same string, at the cost of one regex scan."""
    if not _FOUND.search(text):
        return text
    table = {k: v for k, v in _ESCAPES.items() if chr(k) not in keep} if keep else _ESCAPES
    return text.translate(table)


_JSON_RAW = re.compile(
    "[" + re.escape("\x7f" + "".join(_INVISIBLE[0x20:]) + "".join(_FORMAT)) + "]"
)


def json_printable(document: str) -> str:
    """A JSON document with DEL, the C1 controls and the bidi/line-separator characters its
    encoder leaves raw written as `\\u` escapes: the same JSON value, safe on a terminal (JSON
    encoders already escape C0 controls; these may only occur inside strings)."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", document)
