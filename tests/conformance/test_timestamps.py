"""Timestamps are found where the contract types them (UnixSeconds) and judged as plausible seconds."""

from __future__ import annotations

from conformance import contract
from conformance.grammar import grammar
from conformance.timestamps import plausible, timestamps

NOW = 1_764_000_000


def test_plausible_seconds_only() -> None:
    assert plausible(NOW, now=NOW)
    assert not plausible(NOW * 1000, now=NOW)  # milliseconds
    assert not plausible(NOW + 2 * 86400, now=NOW)  # in the future
    assert not plausible(1_000_000, now=NOW)  # 1970
    assert not plausible(str(NOW), now=NOW)
    assert not plausible(float(NOW), now=NOW)
    assert not plausible(True, now=NOW)


def test_every_time_of_a_workflow_event_is_found() -> None:
    contract.use_era("current")
    event = {
        "event": "node_finished",
        "task_id": "t",
        "message_id": "m",
        "conversation_id": "c",
        "created_at": 1,
        "workflow_run_id": "w",
        "data": {"id": "n", "created_at": 2, "finished_at": 3, "status": "succeeded", "elapsed_time": 0},
    }
    found = dict(timestamps(grammar().schema("node_finished"), event))
    assert found == {"created_at": 1, "data.created_at": 2, "data.finished_at": 3}


def test_a_piece_has_its_created_at() -> None:
    contract.use_era("current")
    found = dict(timestamps(grammar().schema("message"), {"event": "message", "created_at": 5, "answer": ""}))
    assert found == {"created_at": 5}
