"""Widgets the console's screens share: header, key bar, paged table, detail panel."""
