"""The refusal rules of the Mapping screen, without Textual."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from console.destinations.resci.settings import ResciExport, ResciSettings
from console.destinations.segment.settings import SegmentSettings
from console.ui import mapping_changes as changes


def resci(fields: dict[str, str] | None = None) -> ResciSettings:
    return ResciSettings(
        api_key=SecretStr("k-1234567890"),
        export=ResciExport(audience="a", fields=fields or {"first_name": "full_name"}),
    )


def test_a_field_maps_once_each_way() -> None:
    settings = changes.add_user_field(resci(), "address_city", "city")
    assert settings.export is not None and settings.export.fields["address_city"] == "city"
    with pytest.raises(ValueError, match="full_name already receives first_name"):
        changes.add_user_field(settings, "last_name", "full_name")
    with pytest.raises(ValueError, match="first_name is already mapped onto full_name"):
        changes.add_user_field(settings, "first_name", "state")


def test_always_sent_columns_are_not_targets() -> None:
    with pytest.raises(ValueError, match="'email' is always sent"):
        changes.add_user_field(resci(), "last_name", "email")


def test_the_last_field_stays() -> None:
    with pytest.raises(ValueError, match="at least one user field must stay mapped"):
        changes.remove_user_field(resci(), "first_name")


def test_reserved_names_are_not_custom_events() -> None:
    with pytest.raises(ValueError, match="'search' is a ReSci reserved event"):
        changes.add_event(resci(), "search", "view")
    for spelled in ("Click", " View "):
        with pytest.raises(ValueError, match="is a ReSci reserved event"):
            changes.add_event(resci(), spelled, "view")
    settings = changes.add_event(resci(), "Viewed Product Reclaim", "view")
    with pytest.raises(ValueError, match="already mapped onto view"):
        changes.add_event(settings, "Viewed Product Reclaim", "click")
    with pytest.raises(ValueError, match="not a ReSci reserved event"):
        changes.add_event(resci(), "Custom", "purchase")
    assert changes.remove_event(settings, "Viewed Product Reclaim").events == {}


def test_export_switches_keep_the_fields() -> None:
    settings = changes.set_export(resci({"address_city": "city"}), "b", {"x": "y"})
    assert settings.export is not None
    assert (settings.export.audience, settings.export.fields) == ("b", {"address_city": "city"})
    assert changes.set_export(settings, None, {}).export is None
    fresh = ResciSettings(api_key=SecretStr("k-1234567890"))
    chosen = changes.set_export(fresh, "a", {"address_city": "city"})
    assert chosen.export is not None and chosen.export.fields == {"address_city": "city"}


def test_an_export_has_no_default_fields() -> None:
    """Seed 001: no default fields, at least one chosen. (This replaced a test that asserted
    the four address fields were mapped for the operator.)"""
    fresh = ResciSettings(api_key=SecretStr("k-1234567890"))
    with pytest.raises(ValueError, match="at least one user field is needed"):
        changes.set_export(fresh, "a")
    with pytest.raises(ValueError, match="choose the console field"):
        changes.set_export(fresh, "a", {"": "city"})
    with pytest.raises(ValueError, match="choose the ReSci user field"):
        changes.add_user_field(resci(), "last_name", "")


def test_segment_reclaim_events_and_revenue() -> None:
    settings = SegmentSettings(write_key=SecretStr("w-1234567890"))
    settings = changes.add_reclaim_event(settings, " Add To Cart Reclaim ")
    assert settings.reclaim_events == ["Add To Cart Reclaim"]
    with pytest.raises(ValueError, match="already sent"):
        changes.add_reclaim_event(settings, "Add To Cart Reclaim")
    assert changes.remove_reclaim_event(settings, "Add To Cart Reclaim").reclaim_events == []
    assert changes.set_revenue_metric(settings, " Price ").revenue_metric == "Price"
    assert changes.set_revenue_metric(settings, "").revenue_metric is None
