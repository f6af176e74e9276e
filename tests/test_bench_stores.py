"""The benchmark's prepared store is one the mock serves (a bench that builds its rows by hand broke
silently once the store's schema grew; only a bench run found it)."""

from __future__ import annotations

import sys
from pathlib import Path

from mock_server import create_app

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_the_history_store_of_the_bench_is_served_by_the_mock(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("side_by_side", None)
    import side_by_side

    path = str(tmp_path / "history.sqlite3")
    made = side_by_side.history_store(path, (3,))
    client = create_app({"store": path}).test_client()
    auth = {"Authorization": f"Bearer {side_by_side.KEY}"}
    user, _ = made["conversations-3"]
    convs = client.get(f"/v1/conversations?user={user}", headers=auth).get_json()["data"]
    assert [c["name"] for c in convs] == ["c2", "c1", "c0"]
    user, conv_id = made["messages-3"]
    page = client.get(f"/v1/messages?user={user}&conversation_id={conv_id}", headers=auth).get_json()
    assert [m["query"] for m in page["data"]] == ["q0", "q1", "q2"]
