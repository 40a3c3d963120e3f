"""The ReSci on-site tag ("Waves") an operator pastes into their website.

`onsite_tag(settings)` returns an HTML `<script>` block: the `_rsq` queue with the Site ID,
`_enableOnsite` when Enable On-Site is on, commented identify lines, one commented example per
mapped event (the `_setAction` with its reserved name, plus the item, order or search push
that event usually carries), `_track` last, then ReSci's loader. The example lines are meant
for the page where that event happens (one action per page view), so they are comments: the
tag pastes as-is on every page, and the operator un-comments an event's lines on its page.
"""

from __future__ import annotations

from console.destinations.resci.adapter import ONSITE_LOADER_URL, ONSITE_QUEUE
from console.destinations.resci.settings import ResciSettings

# What a page usually pushes besides `_setAction` for each reserved event (placeholders in
# capitals are for the operator's template to fill in).
_EVENT_EXTRAS: dict[str, tuple[str, ...]] = {
    "view": ("['_addItem', {'id': 'ITEM_ID', 'name': 'ITEM_NAME', 'price': 'ITEM_PRICE'}]",),
    "shopping_cart": (
        "['_addItem', {'id': 'ITEM_ID', 'name': 'ITEM_NAME', 'price': 'ITEM_PRICE'}]",
    ),
    "checkout_success": ("['_addOrder', {'id': 'ORDER_ID', 'total': 'ORDER_TOTAL'}]",),
    "search": ("['_setParams', {'term': 'SEARCH_TERM'}]",),
}


def js_string(value: str) -> str:
    """A single-quoted JavaScript string literal that is also safe inside an HTML `<script>`
    (no `</script>` can end it early)."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
        .replace("<", "\\x3c")
        .replace(">", "\\x3e")
    )
    return f"'{escaped}'"


def _comment_text(value: str) -> str:
    """Text safe on one `//` comment line inside a `<script>` block."""
    flat = " ".join(value.split())
    return flat.replace("<", "\\x3c").replace(">", "\\x3e")


def onsite_tag(settings: ResciSettings, destination: str | None = None) -> str:
    """The tag for a ReSci destination. Raises ValueError when it has no Site ID."""
    if not settings.site_id:
        raise ValueError("the destination has no Site ID; set site_id first")
    q = ONSITE_QUEUE
    label = f" for {_comment_text(destination)}" if destination else ""
    lines = [
        f"<!-- Retention Science on-site tag{label} (Site ID {settings.site_id}): "
        "paste before </head> on every page -->",
        '<script type="text/javascript">',
        f"  var {q} = {q} || [];",
        f"  {q}.push(['_setSiteId', {js_string(settings.site_id)}]);",
    ]
    if settings.on_site:
        lines.append(f"  {q}.push(['_enableOnsite']);")
    lines += [
        "  // When the visitor is known, identify them (your template fills these in):",
        f"  // {q}.push(['_setUserId', 'USER_ID']);",
        f"  // {q}.push(['_setUserEmail', 'USER_EMAIL']);",
    ]
    if settings.events:
        lines += [
            "",
            "  // Mapped events: on the page where one happens, un-comment its lines",
            "  // (one action per page view, always before _track).",
        ]
        for custom, reserved in settings.events.items():
            lines.append(f"  // {_comment_text(custom)} -> {reserved}")
            for extra in _EVENT_EXTRAS.get(reserved, ()):
                lines.append(f"  // {q}.push({extra});")
            lines.append(f"  // {q}.push(['_setAction', {js_string(reserved)}]);")
    lines += [
        "",
        f"  {q}.push(['_track']);",
        "",
        "  (function() {",
        "    var rScix = document.createElement('script');",
        "    rScix.type = 'text/javascript';",
        "    rScix.async = true;",
        f"    rScix.src = {js_string(ONSITE_LOADER_URL)};",
        "    (document.getElementsByTagName('head')[0] ||",
        "     document.getElementsByTagName('body')[0]).appendChild(rScix);",
        "  })();",
        "</script>",
    ]
    return "\n".join(lines) + "\n"
