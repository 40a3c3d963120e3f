"""The Textual operator console: screens over `state/` queries, actions through the engine.

Nothing here is built at import time; `console.ui.app.make_app` builds the one app.
"""
