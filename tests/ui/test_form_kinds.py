"""The destination form is built from a kind's declaration: a throwaway kind with a secret named
`token`, a checkbox, a bounded integer, an optional text and a nested section gets its fields,
labels and checks from its settings model alone, and editing keeps the stored token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, Label

from console.core.secrets import mask_secret
from console.destinations import registry
from console.destinations.base import DestinationAdapter
from console.destinations.kind import Capabilities, DestinationKind, PlannedChunk
from console.engine.destinations import get_destination
from console.ui.screens.choose import ChooseScreen
from console.ui.screens.destination_form import DestinationForm
from console.ui.widgets.form_fields import FieldRow
from state.db import Store
from tests.ui.conftest import AppFactory

SIZE = (100, 40)
TOKEN = "hook-token-0123456789-WXYZ"


class HookExtras(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tags: list[str] = Field(default=[], title="Tags", json_schema_extra={"placeholder": "a, b"})


class HookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["hook-test"] = "hook-test"
    token: SecretStr = Field(
        title="Token", json_schema_extra={"section": "Auth", "placeholder": "the shared token"}
    )
    note: str | None = Field(default=None, title="Note")
    loud: bool = Field(default=False, title="Loud", description="shout every event")
    schedule_minutes: int = Field(
        default=15,
        ge=1,
        le=1440,
        title="Every (minutes)",
        json_schema_extra={"section": "General", "invalid": "1 to 1440 minutes"},
    )
    extras: HookExtras = Field(default=HookExtras(), title="Extras")


class _Planner:
    def streams(self, settings: Any) -> list[str]:
        return []

    def wants_suppressions(self, settings: Any) -> bool:
        return False

    def plan(self, stream: str, settings: Any, rows: Any, suppressed: set[str]) -> PlannedChunk:
        return PlannedChunk()


def _no_adapter(settings: HookSettings) -> DestinationAdapter:
    raise AssertionError("the test kind never sends")


HOOK = DestinationKind(
    name="hook-test",
    label="Hook",
    summary="Hook: a kind that only exists in this test",
    settings_model=HookSettings,
    capabilities=Capabilities(events=True),
    adapter=_no_adapter,
    describe=lambda s: [("Token", mask_secret(s.token))],
    planner=_Planner(),
)


@pytest.fixture(autouse=True)
def hook_kind(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.KINDS, HOOK.name, HOOK)
    yield


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(2):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def label_of(form: DestinationForm, field: str) -> str:
    row = form.query_one(f"#row-{field}", FieldRow)
    return str(row.query_one(Label).render())


async def test_a_new_kind_gets_its_form_from_its_model(ui_app: AppFactory, ui_store: Store) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, ChooseScreen)
        # The kinds in registry order, then the test kind (added last).
        await pilot.press(*["down"] * (len(registry.KINDS) - 1), "enter")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, DestinationForm) and form.kind == "hook-test"
        token = form.query_one("#f-token", Input)
        assert token.password and token.placeholder == "the shared token"
        assert form.query_one("#f-loud", Checkbox).label.plain == "shout every event"
        assert label_of(form, "schedule_minutes") == "Every (minutes)"
        assert label_of(form, "extras-tags") == "Tags"
        await pilot.press(*"hook-1")
        token.value = TOKEN
        form.query_one("#f-schedule_minutes", Input).value = "0"
        form.query_one("#f-extras-tags", Input).value = "a, b"
        await pilot.press("ctrl+s")
        await settle(pilot)
        # The integer's bounds come from the model, and its own words are shown.
        assert isinstance(app.screen, DestinationForm)
        error = str(form.query_one("#error-schedule_minutes").render())
        assert "1 to 1440 minutes" in error
        form.query_one("#f-schedule_minutes", Input).value = "30"
        form.query_one("#f-loud", Checkbox).value = True
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, DestinationForm)
    with ui_store.read() as conn:
        record = get_destination(conn, "hook-1")
    assert record is not None and record.kind == "hook-test"
    settings = record.settings
    assert settings.token.get_secret_value() == TOKEN
    assert settings.schedule_minutes == 30 and settings.loud and settings.note is None
    assert settings.extras.tags == ["a", "b"]


async def test_editing_a_new_kind_keeps_its_stored_token(
    ui_app: AppFactory, ui_store: Store
) -> None:
    from console.engine.destinations import save_destination

    with ui_store.write() as conn:
        save_destination(conn, "hook-1", HookSettings(token=SecretStr(TOKEN)))
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#destinations", DataTable)
        table.move_cursor(row=table.get_row_index("hook-1"))
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, DestinationForm)
        token = form.query_one("#f-token", Input)
        assert token.value == "" and mask_secret(SecretStr(TOKEN)) in token.placeholder
        form.query_one("#f-note", Input).value = "  for the test  "
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, DestinationForm)
    with ui_store.read() as conn:
        record = get_destination(conn, "hook-1")
    assert record is not None
    assert record.settings.token.get_secret_value() == TOKEN
    assert record.settings.note == "for the test"
