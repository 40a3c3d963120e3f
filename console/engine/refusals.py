"""What a command refuses: the store's state says no, and the message says what to fix."""

from __future__ import annotations


class CommandRefused(Exception):
    """A change the store's state refuses; `field` names what to fix, when it is one field."""

    def __init__(self, reason: str, *, destination: str | None = None, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.destination = destination
        self.field = field


class NoSuchDestination(CommandRefused):
    """The named destination does not exist (any more)."""


class DestinationBusy(CommandRefused):
    """A run holds the destination's lease past the removal's patience."""
