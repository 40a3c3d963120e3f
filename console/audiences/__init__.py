"""Audiences: named rules over contact fields, and each destination's membership of one."""

from console.audiences.rules import parse_rule
from console.audiences.tree import DATE_FIELDS, Rule, normalise_timestamp

__all__ = ["DATE_FIELDS", "Rule", "normalise_timestamp", "parse_rule"]
