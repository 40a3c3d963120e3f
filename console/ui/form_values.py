"""Form text and the values it stands for: comma-separated lists, and an export's user fields
typed as `console_field=user_field, ...`."""

from __future__ import annotations


def split_list(text: str) -> list[str]:
    """`a, b,,c` -> [a, b, c]."""
    return [part.strip() for part in text.split(",") if part.strip()]


def format_export_fields(fields: dict[str, str]) -> str:
    return ", ".join(f"{source}={target}" for source, target in fields.items())


def parse_export_fields(text: str) -> dict[str, str]:
    """`first_name=full_name, address_city=city` -> a mapping; an entry without `=` maps onto
    nothing, which the settings model refuses by name."""
    fields: dict[str, str] = {}
    for entry in split_list(text):
        source, _, target = entry.partition("=")
        fields[source.strip()] = target.strip()
    return fields
