"""Admin API (health, reset, fixtures, journal) and the SQLite store (restart, concurrency)."""

from __future__ import annotations

import threading

from tests.contract import contract
from tests.mock.conftest import AUTH, SEEDED_CONVERSATION, SEEDED_USER, chat
from tests.mock.contract_check import CheckedClient


def test_health(client) -> None:
    body = client.client.get("/_mock/health").json
    assert body["status"] == "ok"
    paths = contract()["paths"].values()
    every = sorted(op["operationId"] for item in paths for op in item.values() if isinstance(op, dict))
    assert sorted(body["operations"]) == every and "sendChatMessage" in every
    assert body["counts"]["conversations"] >= 28


def test_reset_restores_the_seed(client) -> None:
    chat(client, "hello", user="temp")
    client.delete(f"/v1/conversations/{SEEDED_CONVERSATION}", headers=AUTH, json={"user": SEEDED_USER})
    client.client.post("/_mock/faults", json={"fault": "latency_ms=1"})
    assert client.client.post("/_mock/reset").json == {"result": "success"}
    assert client.get("/v1/conversations?user=temp", headers=AUTH).json["data"] == []
    url = f"/v1/messages?conversation_id={SEEDED_CONVERSATION}&user={SEEDED_USER}"
    assert len(client.get(url, headers=AUTH).json["data"]) == 2
    assert client.client.get("/_mock/faults").json["data"] == []


def test_load_fixtures_document(client) -> None:
    doc = {
        "users": [
            {
                "user": "zoe",
                "conversations": [
                    {
                        "id": "5b7a4f2e-1111-4222-8333-944455556666",
                        "name": "Loaded",
                        "inputs": {"book": "b"},
                        "created_at": 1700000000,
                        "updated_at": 1700000100,
                        "messages": [
                            {
                                "id": "5b7a4f2e-1111-4222-8333-944455556667",
                                "query": "q1",
                                "answer": "a1",
                                "created_at": 1700000000,
                            },
                            {
                                "id": "5b7a4f2e-1111-4222-8333-944455556668",
                                "query": "q2",
                                "answer": "a2",
                                "created_at": 1700000100,
                                "feedback": {"rating": "dislike"},
                            },
                        ],
                    }
                ],
            }
        ]
    }
    resp = client.client.post("/_mock/fixtures", json=doc)
    assert resp.json == {"result": "success", "loaded": 3}
    convs = client.get("/v1/conversations?user=zoe", headers=AUTH).json["data"]
    assert [(c["name"], c["updated_at"]) for c in convs] == [("Loaded", 1700000100)]
    msgs = client.get(f"/v1/messages?conversation_id={convs[0]['id']}&user=zoe", headers=AUTH).json["data"]
    assert [m["query"] for m in msgs] == ["q1", "q2"] and msgs[1]["feedback"] == {"rating": "dislike"}
    again = client.client.post("/_mock/fixtures", json=doc)  # ids already stored
    assert again.status_code == 409 and again.json["code"] == "conflict"
    assert again.json["message"].startswith("fixtures: users[0].conversations[0].id: conversation ")
    replaced = client.client.post("/_mock/fixtures?replace=true", json=doc)
    assert replaced.status_code == 200
    assert client.get(f"/v1/conversations?user={SEEDED_USER}", headers=AUTH).json["data"] == []
    assert (
        client.client.post("/_mock/fixtures", data="{oops", content_type="application/json").status_code
        == 400
    )


def test_journal_records_redacts_filters_and_clears(client) -> None:
    admin = client.client
    chat(client, "hello", user="j1")
    client.get("/v1/parameters", headers=AUTH)
    client.get("/v1/parameters")
    entries = admin.get("/_mock/journal").json["data"]
    assert [e["operation_id"] for e in entries[:3]] == ["getParameters", "getParameters", "sendChatMessage"]
    first = entries[2]
    assert first["method"] == "POST" and first["path"] == "/v1/chat-messages" and first["status"] == 200
    assert '"query": "hello"' in first["body"]
    assert first["headers"]["Authorization"] == "<redacted>"
    assert AUTH["Authorization"] not in str(entries)
    assert [e["status"] for e in admin.get("/_mock/journal?status=401").json["data"]] == [401]
    assert len(admin.get("/_mock/journal?operation_id=getParameters&limit=1").json["data"]) == 1
    assert admin.get("/_mock/journal?limit=abc").status_code == 400
    assert admin.delete("/_mock/journal").json == {"result": "success"}
    assert admin.get("/_mock/journal").json["data"] == []


def test_journal_is_a_bounded_ring(make_app) -> None:
    client = CheckedClient(make_app(journal_size=10))
    for _ in range(120):
        client.get("/v1/parameters", headers=AUTH)
    body = client.client.get("/_mock/health").json
    assert body["counts"]["journal"] <= 10 + 50
    assert len(client.client.get("/_mock/journal?limit=1000").json["data"]) <= 10


def test_admin_token(make_app) -> None:
    admin = make_app(admin_token="s3cret").test_client()
    assert admin.get("/_mock/health").status_code == 401
    assert admin.get("/_mock/health", headers={"X-Mock-Admin-Token": "s3cret"}).status_code == 200
    assert admin.get("/_mock/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_restart_with_a_file_store_loses_nothing(make_app) -> None:
    client = CheckedClient(make_app())
    made = chat(client, "hello", user="persist").json
    client.post(
        f"/v1/conversations/{SEEDED_CONVERSATION}/name",
        headers=AUTH,
        json={"name": "Renamed", "user": SEEDED_USER},
    )
    before = client.get(f"/v1/conversations?user={SEEDED_USER}&limit=100", headers=AUTH).json
    restarted = CheckedClient(make_app())  # same store file, new process state
    assert restarted.get(f"/v1/conversations?user={SEEDED_USER}&limit=100", headers=AUTH).json == before
    convs = restarted.get("/v1/conversations?user=persist", headers=AUTH).json["data"]
    assert [c["id"] for c in convs] == [made["conversation_id"]]


def test_concurrent_writers(live_server) -> None:
    from tests.mock.contract_check import checked_session

    base = live_server()
    errors: list[str] = []

    def writer(n: int) -> None:
        session = checked_session()
        conv = ""
        for i in range(8):
            r = session.post(
                f"{base}/v1/chat-messages",
                headers=AUTH,
                json={"inputs": {"book": "b"}, "query": f"q{i}", "user": f"w{n}", "conversation_id": conv},
                timeout=30,
            )
            if r.status_code != 200:
                errors.append(r.text)
                return
            conv = r.json()["conversation_id"]

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    requests = checked_session()
    for n in range(8):
        convs = requests.get(f"{base}/v1/conversations?user=w{n}", headers=AUTH, timeout=10).json()["data"]
        assert len(convs) == 1
        msgs = requests.get(
            f"{base}/v1/messages?conversation_id={convs[0]['id']}&user=w{n}", headers=AUTH, timeout=10
        ).json()["data"]
        assert [m["query"] for m in msgs] == [f"q{i}" for i in range(8)]


def test_journal_limit_default_and_bounds(client) -> None:
    admin = client.client
    for _ in range(55):
        client.get("/v1/parameters", headers=AUTH)
    assert len(admin.get("/_mock/journal").json["data"]) == 50  # the default limit
    assert len(admin.get("/_mock/journal?limit=2").json["data"]) == 2
    for bad in ("0", "-1", "abc", ""):
        resp = admin.get(f"/_mock/journal?limit={bad}")
        assert resp.status_code == 400 and resp.json["message"].startswith("journal: limit"), bad
    assert admin.get("/_mock/journal?since=x").json["message"] == "journal: since must be an integer, got 'x'"


def test_journal_records_the_whole_duration_of_a_stream(live_server) -> None:
    import time

    import requests

    base = live_server(token_interval_ms=50)
    resp = requests.post(
        f"{base}/v1/chat-messages",
        headers=AUTH,
        json={
            "inputs": {"book": "b"},
            "query": "Which movie is the best?",
            "user": "dur",
            "response_mode": "streaming",
        },
        timeout=10,
    )
    assert resp.text.count("data: ") == 6  # 5 pieces (4 intervals of 50 ms) + message_end
    for _ in range(40):  # the entry is updated when the server closes the stream
        entry = requests.get(f"{base}/_mock/journal?operation_id=sendChatMessage", timeout=5).json()["data"][
            0
        ]
        if entry["duration_ms"] >= 190:
            break
        time.sleep(0.05)
    assert 190 <= entry["duration_ms"] < 5000, entry


def test_journal_stream_duration_in_process(make_app) -> None:
    from mock_server.journal import Journal

    app = make_app(token_interval_ms=50)
    resp = app.test_client().post(
        "/v1/chat-messages",
        headers=AUTH,
        json={
            "inputs": {"book": "b"},
            "query": "Which movie is the best?",
            "user": "d2",
            "response_mode": "streaming",
        },
        buffered=False,
    )
    state = app.extensions["chat_mock"]
    state.journal.flush()  # written with the time to the headers, then updated at close
    items = list(resp.response)
    resp.close()
    assert len(items) == 6
    assert isinstance(state.journal, Journal)
    entry = app.test_client().get("/_mock/journal?limit=1").json["data"][0]
    assert entry["operation_id"] == "sendChatMessage" and entry["duration_ms"] >= 190


def test_bad_fault_bodies_are_400(client) -> None:
    admin = client.client
    for body in (
        {"fault": "status=500", "operation": "listConversations"},
        {"fault": "status=500", "count": True},
        {"fault": "status=500", "probability": "1"},
        ["status=500"],
    ):
        resp = admin.post("/_mock/faults", json=body)
        assert resp.status_code == 400 and resp.json["message"].startswith("fault: "), body
    unknown = admin.post("/_mock/faults", json={"fault": "status=500", "operation": "x"}).json["message"]
    assert unknown.startswith("fault: unknown field 'operation'")
    assert admin.get("/_mock/faults").json["data"] == []


def test_faults_set_in_one_worker_apply_in_another(make_app) -> None:
    """Each worker caches the global faults; a change made through any worker must reach all of them,
    at once (two apps on one store file act like two workers)."""
    one, two = make_app().test_client(), make_app().test_client()
    url = f"/v1/conversations?user={SEEDED_USER}"
    assert one.get(url, headers=AUTH).status_code == 200  # `one` has read (and cached) no faults
    added = two.post("/_mock/faults", json={"fault": "status=503"}).json
    assert one.get(url, headers=AUTH).status_code == 503
    assert two.delete(f"/_mock/faults/{added['id']}").status_code == 200
    assert one.get(url, headers=AUTH).status_code == 200
    two.post("/_mock/faults", json={"fault": "status=502", "count": 1})
    assert one.get(url, headers=AUTH).status_code == 502  # `one` uses the only one
    assert two.get(url, headers=AUTH).status_code == 200
    two.post("/_mock/faults", json={"fault": "status=500"})
    assert one.get(url, headers=AUTH).status_code == 500
    assert two.post("/_mock/reset").status_code == 200  # a reset clears the faults of every worker
    assert one.get(url, headers=AUTH).status_code == 200


def test_a_dropped_app_leaves_no_journal_thread_behind(make_app) -> None:
    """Each app's journal flushes from a thread; when the app is dropped the thread ends (a test suite
    building an app per test once piled up hundreds of threads waking 40 times a second)."""
    import gc
    import time

    def journal_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "chat-mock-journal"}

    # Threads of apps built by earlier tests may end while this one runs: follow this test's own
    # threads by identity, never by a count that others change.
    ours: set[threading.Thread] = set()
    for _ in range(5):
        known = journal_threads()
        app = make_app()
        app.test_client().get(f"/v1/conversations?user={SEEDED_USER}", headers=AUTH)
        started = journal_threads() - known
        assert len(started) == 1, "each app flushes its journal from one thread of its own"
        ours |= started
        del app
    gc.collect()
    deadline = time.monotonic() + 5
    while any(t.is_alive() for t in ours) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [t for t in ours if t.is_alive()]


def _listed(client: CheckedClient, user: str) -> list[dict]:
    return client.get(f"/v1/conversations?user={user}&limit=100", headers=AUTH).json["data"]


def _built_from_columns(path: str, user: str) -> dict[str, dict]:
    """Each conversation of `user` as SQLite builds it from its columns (what `view` must equal)."""
    import json

    from mock_server import store

    conn = store.connect(path)
    try:
        rows = conn.execute(
            f"SELECT {store._CONVERSATION_OBJECT} FROM conversations WHERE user = ?", (user,)
        ).fetchall()
    finally:
        conn.close()
    return {c["id"]: c for c in (json.loads(r[0]) for r in rows)}


def test_the_stored_view_of_a_conversation_follows_every_change(make_app, tmp_path, monkeypatch) -> None:
    """Pages read each conversation's ready JSON (`view`); a rename and a later message change it
    exactly as they change the columns."""
    import time as time_module

    client = CheckedClient(make_app())
    made = chat(client, "hello", user="viewer").json
    chat(client, "another one", user="viewer")
    conv_id = made["conversation_id"]
    client.post(f"/v1/conversations/{conv_id}/name", headers=AUTH, json={"name": "Renamed", "user": "viewer"})
    later = time_module.time() + 5
    monkeypatch.setattr(time_module, "time", lambda: later)
    chat(client, "again", user="viewer", conversation_id=conv_id)
    listed = _listed(client, "viewer")
    assert [c["id"] for c in listed][0] == conv_id  # moved up by its new message
    assert listed[0]["name"] == "Renamed" and listed[0]["updated_at"] == int(later)
    assert {c["id"]: c for c in listed} == _built_from_columns(str(tmp_path / "store.sqlite3"), "viewer")


def test_a_store_written_before_the_view_column_still_answers(make_app, tmp_path) -> None:
    from mock_server import store

    path = str(tmp_path / "store.sqlite3")
    client = CheckedClient(make_app())
    conv_id = chat(client, "hello", user="old-store").json["conversation_id"]
    before = _listed(client, "old-store")
    conn = store.connect(path)
    conn.execute("ALTER TABLE conversations DROP COLUMN view")  # as an older mock left it
    conn.close()
    upgraded = CheckedClient(make_app())
    assert _listed(upgraded, "old-store") == before
    rename = {"name": "New", "user": "old-store"}
    upgraded.post(f"/v1/conversations/{conv_id}/name", headers=AUTH, json=rename)
    assert [c["name"] for c in _listed(upgraded, "old-store")] == ["New"]


def test_a_write_transaction_holds_the_store_writer_lock(tmp_path) -> None:
    """Workers queue for writes on an flock beside the store (released the moment a write ends)."""
    import fcntl
    import os

    import pytest

    from mock_server import store

    path = str(tmp_path / "locked.sqlite3")
    store.init_schema(path)
    conn = store.connect(path)
    other = os.open(path + store.WRITER_LOCK_SUFFIX, os.O_RDWR)  # as another worker opens it
    try:
        with store.transaction(conn), pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again once the write ended
        fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        os.close(other)
        conn.close()


def _boot_store(path: str, errors) -> None:  # a gunicorn worker's start, in a forked process
    from mock_server import store

    try:
        store.init_schema(path)
        conn = store.connect(path)
        with store.transaction(conn):
            store.get_meta(conn, "seeded")
        conn.close()
    except Exception as exc:
        errors.put(repr(exc))


def test_workers_booting_together_on_a_new_store_all_boot(tmp_path) -> None:
    """Three workers make the schema of one empty file at once, as gunicorn's do at start.

    Unserialized, a third of such starts had a worker fail (a new column added twice, or `meta`
    missing after its own CREATE), and CI once lost a run to a mock whose worker never booted."""
    import multiprocessing

    forks = multiprocessing.get_context("fork")
    errors = forks.Queue()
    for round_ in range(20):
        path = tmp_path / f"new-{round_}.sqlite3"
        path.touch()  # as mkstemp leaves it: an empty file
        workers = [forks.Process(target=_boot_store, args=(str(path), errors)) for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert [w.exitcode for w in workers] == [0, 0, 0]
        assert errors.empty(), errors.get()
