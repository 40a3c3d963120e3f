"""The import job's state machine: every legal move in `TRANSITIONS` is allowed, every other
one refused, and the poller's steps move jobs only through it."""

from __future__ import annotations

import itertools

import pytest

from console.core.vocab import ImportJobStatus
from console.destinations.resci.job import (
    TRANSITIONS,
    IllegalTransition,
    ImportJob,
    can_move,
    transition,
)

S = ImportJobStatus
LEGAL = {
    (S.UPLOADING, S.QUEUED),
    (S.UPLOADING, S.COMPLETED),
    (S.UPLOADING, S.FAILED),
    (S.QUEUED, S.QUEUED),
    (S.QUEUED, S.PROCESSING),
    (S.QUEUED, S.COMPLETED),
    (S.QUEUED, S.FAILED),
    (S.PROCESSING, S.PROCESSING),
    (S.PROCESSING, S.COMPLETED),
    (S.PROCESSING, S.FAILED),
}
ALL_MOVES = list(itertools.product(S, S))


def job(status: ImportJobStatus) -> ImportJob:
    return ImportJob(id=7, audience="vip", status=status, remote_id="job_1", rows=3)


def test_the_table_covers_every_state_and_lists_exactly_the_legal_moves() -> None:
    assert set(TRANSITIONS) == set(S)
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == LEGAL


@pytest.mark.parametrize(("source", "target"), sorted(LEGAL))
def test_every_legal_move_is_made(source: ImportJobStatus, target: ImportJobStatus) -> None:
    before = job(source)
    after = transition(before, target, rows=9)
    assert (after.status, after.rows, after.id, after.remote_id) == (target, 9, 7, "job_1")
    assert before.status is source  # jobs are values: the old one is unchanged


@pytest.mark.parametrize(
    ("source", "target"), [m for m in ALL_MOVES if m not in LEGAL], ids=lambda s: str(s)
)
def test_every_other_move_is_refused(source: ImportJobStatus, target: ImportJobStatus) -> None:
    assert not can_move(source, target)
    with pytest.raises(IllegalTransition, match=f"{source} -> {target}"):
        transition(job(source), target)


def test_final_states_are_final() -> None:
    for final in (S.COMPLETED, S.FAILED):
        assert TRANSITIONS[final] == frozenset()
        assert not final.pending


def test_a_file_is_built_only_while_uploading() -> None:
    built = job(S.UPLOADING).with_file(12, "/tmp/users-x-7.csv", "vip")
    assert (built.status, built.rows, built.file_path) == (S.UPLOADING, 12, "/tmp/users-x-7.csv")
    with pytest.raises(IllegalTransition):
        job(S.QUEUED).with_file(12, "/tmp/users-x-7.csv", "vip")


def test_a_job_is_immutable() -> None:
    with pytest.raises(ValueError):
        job(S.QUEUED).status = S.COMPLETED  # type: ignore[misc]
