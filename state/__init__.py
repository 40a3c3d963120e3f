"""The console's persistence: tables, the store factory, migrations, repositories and the pages
the screens read (failures, history, summary, choices).

Knows nothing of HTTP or Textual.
"""
