"""Secrets in settings: a literal key or `env:NAME`, read from the environment at use.

Every kind's settings model keeps its keys as `SecretStr` (so repr, logs and tracebacks never show
them); what is a secret is known from that type alone, never from a field's name.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, SecretStr


class SecretError(ValueError):
    """A secret given as `env:NAME` names a variable that is not set."""


def resolve_secret(secret: SecretStr) -> str:
    """The key itself: the literal value, or the environment variable an `env:NAME` names."""
    value = secret.get_secret_value()
    if value.startswith("env:"):
        name = value[4:]
        resolved = os.environ.get(name)
        if not resolved:
            raise SecretError(f"environment variable {name} is not set")
        return resolved
    return value


def mask_secret(secret: SecretStr | None) -> str:
    """`env:NAME` as written; a literal key as dots and its last four characters."""
    if secret is None:
        return ""
    value = secret.get_secret_value()
    if not value:
        return ""
    if value.startswith("env:"):
        return value
    return "••••" + value[-4:] if len(value) > 8 else "••••"


MASK_PREFIX = "\u2022"  # how `mask_secret` starts a masked key; never part of a real one


def is_masked(text: str) -> bool:
    """A value `mask_secret` produced from a literal key: never a key itself."""
    return text.startswith(MASK_PREFIX)


def check_secret(value: SecretStr) -> SecretStr:
    """A field validator for secrets: not blank, and `env:` followed by a variable name."""
    text = value.get_secret_value().strip()
    if not text:
        raise ValueError("must not be empty")
    if text.startswith("env:") and not text[4:].replace("_", "").isalnum():
        raise ValueError("env: must be followed by an environment variable name")
    return SecretStr(text)


def http_url(value: str) -> str:
    """A field validator for endpoints: an http(s) URL without its trailing slash."""
    value = value.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError("must be an http:// or https:// URL")
    return value


def _is_secret_annotation(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    # `SecretStr | None` and similar unions.
    return SecretStr in getattr(annotation, "__args__", ())


def secret_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The names of the model's top-level fields typed `SecretStr` (or `SecretStr | None`)."""
    return tuple(
        name
        for name, field in model.model_fields.items()
        if _is_secret_annotation(field.annotation)
    )


def reveal(value: Any) -> Any:
    """A dumped settings value with every `SecretStr` in it replaced by its text, at any depth:
    what the store's settings column keeps (the file is 0600)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {key: reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal(item) for item in value]
    return value
