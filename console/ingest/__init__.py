"""Loading contacts, events and suppressions from CSV/JSONL files into the store.

Each `import_*` streams its file (flat memory whatever its size) and writes it in one
transaction: good rows land, bad rows are reported with their line and reason, and a file that
is not what it claims raises FileRejected with nothing written.
"""

from console.core.identity import email_md5
from console.ingest.contacts import contact_content_hash, import_contacts, normalise_email
from console.ingest.events import import_events
from console.ingest.report import FileRejected, ImportReport, RowError
from console.ingest.suppressions import import_suppressions, suppression_md5

__all__ = [
    "FileRejected",
    "ImportReport",
    "RowError",
    "contact_content_hash",
    "email_md5",
    "import_contacts",
    "import_events",
    "import_suppressions",
    "normalise_email",
    "suppression_md5",
]
