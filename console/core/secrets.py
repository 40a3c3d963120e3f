"""Secrets in settings: a literal key or `env:NAME`, read from the environment at use.

Every kind's settings model keeps its keys as `SecretStr` (so repr, logs and tracebacks never show
them); what is a secret is known from that type alone, never from a field's name.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, HttpUrl, SecretStr, TypeAdapter, ValidationError


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
    # No receiver issues keys with blanks inside: one there is a paste slip (two keys, a
    # label copied along), refused now rather than as a 401 at the next run.
    if any(char.isspace() for char in text):
        raise ValueError("must not contain spaces")
    return SecretStr(text)


_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def http_url(value: str) -> str:
    """A field validator for endpoints: an http(s) URL without its trailing slash.

    pydantic's `HttpUrl` parses it (host, port 1-65535); the text is kept as typed, not as
    pydantic normalises it, so paths and the stored settings read as the operator wrote them.
    """
    value = value.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError("must be an http:// or https:// URL")
    if any(char.isspace() for char in value):
        raise ValueError("must be a URL without spaces")
    try:
        parsed = _HTTP_URL.validate_python(value)
    except ValidationError as exc:
        # "invalid port number", "invalid international domain name", ...
        reason = exc.errors(include_url=False)[0]["msg"].split(", ", 1)[-1]
        raise ValueError(f"must be a valid http:// or https:// URL ({reason})") from None
    if not parsed.host:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parsed.port == 0:  # parsed, but nothing listens there
        raise ValueError("must be a valid http:// or https:// URL (port 0)")
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
