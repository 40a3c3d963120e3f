"""Endpoints and keys are checked when settings are built (the form and `config apply` use the
same models): a URL must parse as one, with a host and a real port; a key has no blanks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from console.destinations.resci.settings import ResciSettings
from console.destinations.segment.settings import SegmentSettings

KEY = "seg-live-key-0123456789"


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://exa mple.com",
        "https://example.com:99999",
        "https://example.com:0",
        "http://exa%20mple.com",
        "https://example.com/a path",
        "ftp://example.com",
    ],
)
def test_bad_endpoints_are_refused(endpoint: str) -> None:
    with pytest.raises(ValidationError, match="URL"):
        SegmentSettings(write_key=KEY, endpoint=endpoint)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="URL"):
        ResciSettings(api_key=KEY, site_id="42", endpoint=endpoint)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("endpoint", "kept"),
    [
        ("https://api.segment.io/", "https://api.segment.io"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("https://Example.com:65535", "https://Example.com:65535"),
    ],
)
def test_good_endpoints_are_kept_as_typed(endpoint: str, kept: str) -> None:
    settings = SegmentSettings(write_key=KEY, endpoint=endpoint)  # type: ignore[arg-type]
    assert settings.endpoint == kept


@pytest.mark.parametrize("key", ["seg live key", "seg-key\tother", "two keys\nhere"])
def test_keys_with_blanks_are_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="must not contain spaces"):
        SegmentSettings(write_key=key)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="must not contain spaces"):
        ResciSettings(api_key=key, site_id="42")  # type: ignore[arg-type]


def test_a_key_with_blanks_around_is_trimmed() -> None:
    settings = SegmentSettings(write_key=f"  {KEY} ")  # type: ignore[arg-type]
    assert settings.write_key.get_secret_value() == KEY
