"""One delivery pass's order per contact: a contact's state rows (`identify`, user updates)
carry its whole state, so the last to arrive wins at the destination, and they must leave in
the order they were queued.

Two cases keep a newer version back:

* An older version waits for a retry from an earlier pass: the store knows it
  (`outbox.waiting_for_older_versions`), and the newer row is deferred to the older's next
  attempt.
* An older version is on the wire in this pass, or was refused in it: batches of a pass are
  sent side by side and a receiver may apply them in any order, so the newer row waits for
  the next pass. `PassOrder` remembers those contacts; it holds only the contacts in flight
  and the ones retried in the pass, never every contact of a million-row backfill.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from console.core.vocab import STATE_KINDS
from console.destinations.base import Outcome, OutgoingRow, RowOutcome


class PassOrder:
    """The contacts a pass must not send another version of yet."""

    def __init__(self, older_versions_waiting: bool) -> None:
        self.check_store = older_versions_waiting
        """Whether claims must ask the store for older versions waiting for a retry."""
        self.left_for_next_pass = False
        self._held: set[str] = set()

    def admit(self, rows: Sequence[OutgoingRow]) -> list[OutgoingRow]:
        """The claimed rows that may go now; the others stay queued for the next pass."""
        sendable: list[OutgoingRow] = []
        for row in rows:
            if row.kind in STATE_KINDS and row.email:
                if row.email in self._held:
                    self.left_for_next_pass = True
                    continue
                self._held.add(row.email)
            sendable.append(row)
        return sendable

    def settled(self, rows: Iterable[OutgoingRow], outcomes: Iterable[RowOutcome]) -> None:
        """A batch came back: contacts delivered or failed for good may send their next
        version; a contact refused for now stays held until the pass ends."""
        final = {o.row_id for o in outcomes if o.outcome is not Outcome.RETRY}
        for row in rows:
            if row.id in final and row.email:
                self._held.discard(row.email)
