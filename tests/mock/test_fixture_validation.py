"""POST /_mock/fixtures checks the document against the contract before loading anything:
400 naming the path of the bad value, 409 for ids already stored, never a 500 or Python internals."""

from __future__ import annotations

from typing import Any

import pytest

from tests.mock.conftest import AUTH, SEEDED_CONVERSATION

CONV = "5b7a4f2e-1111-4222-8333-944455550000"
MSG = "5b7a4f2e-1111-4222-8333-944455550001"


def _user(*conversations: Any, user: Any = "v1") -> dict[str, Any]:
    return {"users": [{"user": user, "conversations": list(conversations)}]}


BAD = [
    (_user({"id": "nope"}), "users[0].conversations[0].id"),
    ({"people": []}, "people"),
    ([], "the document must be an object"),
    ("just text", "the document must be an object"),
    ({"users": {"v1": {}}}, "users"),
    ({"users": [5]}, "users[0]"),
    ({"users": [{"conversations": []}]}, "users[0].user"),
    ({"users": [{"user": "v1", "convs": []}]}, "users[0].convs"),
    (_user(user=""), "users[0].user"),
    (_user(user=7), "users[0].user"),
    ({"users": [{"user": "v1", "conversations": "x"}]}, "users[0].conversations"),
    (_user("x"), "users[0].conversations[0]"),
    (_user({"id": CONV, "name": 5}), "users[0].conversations[0].name"),
    (_user({"id": CONV, "created_at": "yesterday"}), "users[0].conversations[0].created_at"),
    (_user({"id": CONV, "created_at": -1}), "users[0].conversations[0].created_at"),
    (_user({"id": CONV, "inputs": []}), "users[0].conversations[0].inputs"),
    (_user({"id": CONV, "messages": {}}), "users[0].conversations[0].messages"),
    (_user({"id": CONV, "messages": [None]}), "users[0].conversations[0].messages[0]"),
    (_user({"id": CONV, "messages": [{"query": "q"}]}), "users[0].conversations[0].messages[0].answer"),
    (
        _user({"id": CONV, "messages": [{"query": "q", "answer": "a", "feedback": {"rating": "meh"}}]}),
        "users[0].conversations[0].messages[0].feedback",
    ),
    (
        _user({"id": CONV, "messages": [{"id": "m-1", "query": "q", "answer": "a"}]}),
        "users[0].conversations[0].messages[0].id",
    ),
    (
        _user({"id": CONV, "messages": [{"query": "q", "answer": "a", "conversation_id": MSG}]}),
        "users[0].conversations[0].messages[0].conversation_id",
    ),
    (_user({"id": CONV}, {"id": CONV}), "users[0].conversations[1].id: duplicate conversation id"),
    (
        _user({"id": CONV, "messages": [{"id": MSG, "query": "q", "answer": "a"}] * 2}),
        "users[0].conversations[0].messages[1].id: duplicate message id",
    ),
]


@pytest.mark.parametrize(("doc", "path"), BAD, ids=[p for _, p in BAD])
def test_a_bad_document_is_400_naming_the_path(client, doc, path) -> None:
    before = client.client.get("/_mock/health").json["counts"]
    resp = client.client.post("/_mock/fixtures", json=doc)
    assert resp.status_code == 400, resp.json
    body = resp.json
    assert body["code"] == "invalid_param" and body["status"] == 400
    assert body["message"].startswith(f"fixtures: {path}"), body["message"]
    for internal in ("Traceback", "IntegrityError", "AttributeError", "KeyError", "TypeError", "int()"):
        assert internal not in body["message"]
    assert client.client.get("/_mock/health").json["counts"] == before  # nothing loaded


def test_a_partly_bad_document_loads_nothing(client) -> None:
    good = {"id": CONV, "messages": [{"id": MSG, "query": "q", "answer": "a"}]}
    resp = client.client.post("/_mock/fixtures", json=_user(good, {"id": "bad"}))
    assert resp.status_code == 400
    assert client.get("/v1/conversations?user=v1", headers=AUTH).json["data"] == []


def test_ids_already_stored_are_409(client) -> None:
    resp = client.client.post("/_mock/fixtures", json=_user({"id": SEEDED_CONVERSATION}))
    assert resp.status_code == 409
    assert resp.json["code"] == "conflict"
    assert resp.json["message"].startswith("fixtures: users[0].conversations[0].id: conversation ")
    replaced = client.client.post("/_mock/fixtures?replace=true", json=_user({"id": SEEDED_CONVERSATION}))
    assert replaced.json == {"result": "success", "loaded": 1}


def test_defaults_fill_what_the_document_leaves_out(client) -> None:
    doc = _user({"messages": [{"query": "q", "answer": "a", "created_at": 1700000000, "rating": "like"}]})
    assert client.client.post("/_mock/fixtures", json=doc).json == {"result": "success", "loaded": 2}
    conv = client.get("/v1/conversations?user=v1", headers=AUTH).json["data"][0]
    assert conv["status"] == "normal" and conv["created_at"] == conv["updated_at"] == 1700000000
    msgs = client.get(f"/v1/messages?conversation_id={conv['id']}&user=v1", headers=AUTH).json["data"]
    assert msgs[0]["feedback"] == {"rating": "like"}


def test_bad_body_and_replace_flag(client) -> None:
    admin = client.client
    bad_yaml = admin.post("/_mock/fixtures", data="users: [", content_type="application/yaml")
    assert bad_yaml.status_code == 400 and "not valid JSON or YAML" in bad_yaml.json["message"]
    assert admin.post("/_mock/fixtures?replace=yes", json={"users": []}).status_code == 400
    assert admin.post("/_mock/fixtures", json={"users": []}).json == {"result": "success", "loaded": 0}


def test_the_packaged_users_fixture_is_valid(app) -> None:
    from mock_server.fixtures import load_fixtures

    state = app.extensions["chat_mock"]
    users = load_fixtures(state.config.fixtures_path()).users
    assert sum(len(u["conversations"]) for u in state.validated_users(users)) >= 28
