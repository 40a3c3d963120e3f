"""How a contact is identified by hash, the same way everywhere: suppression lists, Segment's
derived `anonymousId` and ReSci's `record_id` (as ReSci's Magento extension derives it)."""

from __future__ import annotations

import hashlib


def email_md5(email: str) -> str:
    """MD5 hex of the trimmed, lower-cased email."""
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()
