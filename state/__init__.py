"""The console's persistence: tables, the store factory, migrations and read queries.

Knows nothing of HTTP or Textual.
"""
