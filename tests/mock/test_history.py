"""GET /messages and GET /conversations pagination, exactly as the contract describes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.mock.conftest import AUTH, LONG_CONVERSATION, SEEDED_CONVERSATION, SEEDED_USER, chat
from tests.mock.contract_check import CheckedClient

USERS = yaml.safe_load((Path(__file__).resolve().parents[2] / "fixtures" / "users.yaml").read_text())["users"]
SEEDED = {u["user"]: u for u in USERS}
EMPTY_CONVERSATION = "10799fb8-64f7-4296-bbf7-b42bfbe0ae54"
UNKNOWN = "3f1b8a1e-0000-4000-8000-000000000000"


def _messages(client, conv: str, user: str = SEEDED_USER, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.get(f"/v1/messages?conversation_id={conv}&user={user}&{query}", headers=AUTH)


def _walk_messages(client, conv: str, limit: int) -> list[dict]:
    pages, first_id = [], ""
    while True:
        body = _messages(client, conv, limit=limit, first_id=first_id).json
        assert body["limit"] == limit and len(body["data"]) <= limit
        pages.append(body["data"])
        if not body["has_more"]:
            return [m for page in reversed(pages) for m in page]
        first_id = body["data"][0]["id"]


def _seeded_messages(conv: str) -> list[dict]:
    for c in SEEDED[SEEDED_USER]["conversations"]:
        if c["id"] == conv:
            return c["messages"]
    raise KeyError(conv)


@pytest.mark.parametrize("limit", [1, 7, 20, 46, 47, 100])
def test_walking_history_yields_every_message_once_in_order(client, limit) -> None:
    seeded = _seeded_messages(LONG_CONVERSATION)
    walked = _walk_messages(client, LONG_CONVERSATION, limit)
    assert [m["id"] for m in walked] == [m["id"] for m in seeded]


def test_first_page_is_newest_ascending(client) -> None:
    seeded = _seeded_messages(LONG_CONVERSATION)
    body = _messages(client, LONG_CONVERSATION).json
    assert body["limit"] == 20 and body["has_more"] is True
    assert [m["id"] for m in body["data"]] == [m["id"] for m in seeded[-20:]]
    created = [m["created_at"] for m in body["data"]]
    assert created == sorted(created)


def test_exactly_one_page_and_empty(client) -> None:
    seeded = _seeded_messages(LONG_CONVERSATION)
    exact = _messages(client, LONG_CONVERSATION, limit=len(seeded)).json
    assert exact["has_more"] is False and len(exact["data"]) == len(seeded)
    last = _messages(client, LONG_CONVERSATION, limit=len(seeded) - 1).json
    assert last["has_more"] is True
    tail = _messages(client, LONG_CONVERSATION, limit=5, first_id=last["data"][0]["id"]).json
    assert tail["has_more"] is False and [m["id"] for m in tail["data"]] == [seeded[0]["id"]]
    empty = _messages(client, EMPTY_CONVERSATION).json
    assert empty == {"limit": 20, "has_more": False, "data": []}


def test_history_shape_and_feedback(client) -> None:
    body = _messages(client, SEEDED_CONVERSATION).json
    assert body["data"][0]["feedback"] == {"rating": "like"}
    assert body["data"][1]["feedback"] is None
    assert body["data"][0]["conversation_id"] == SEEDED_CONVERSATION


def test_messages_with_equal_created_at_keep_creation_order(client) -> None:
    first = chat(client, "hello", user="tie").json
    for q in ("Who directed Die Hard?", "Can you explain why?", "Straße"):
        chat(client, q, user="tie", conversation_id=first["conversation_id"])
    data = _messages(client, first["conversation_id"], user="tie").json["data"]
    assert [m["query"] for m in data] == ["hello", "Who directed Die Hard?", "Can you explain why?", "Straße"]
    one = _messages(client, first["conversation_id"], user="tie", limit=1, first_id=data[2]["id"]).json
    assert [m["query"] for m in one["data"]] == ["Who directed Die Hard?"] and one["has_more"] is True


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5"])
def test_bad_limit_is_400_naming_limit(client, limit) -> None:
    for url in (
        f"/v1/messages?conversation_id={SEEDED_CONVERSATION}&user={SEEDED_USER}&limit={limit}",
        f"/v1/conversations?user={SEEDED_USER}&limit={limit}",
    ):
        resp = client.get(url, headers=AUTH)
        assert resp.status_code == 400
        assert resp.json["code"] == "invalid_param" and resp.json["message"].startswith("limit:")


def test_limit_zero_message_matches_the_contract_example(client) -> None:
    resp = client.get(f"/v1/conversations?user={SEEDED_USER}&limit=0", headers=AUTH)
    assert resp.json == {
        "code": "invalid_param",
        "message": "limit: 0 is less than the minimum of 1",
        "status": 400,
    }


def test_history_errors(client) -> None:
    assert _messages(client, UNKNOWN).json["message"] == "Conversation Not Exists."
    foreign = _messages(client, SEEDED_CONVERSATION, user="lucy-7")
    assert foreign.status_code == 404 and foreign.json["message"] == "Conversation Not Exists."
    other_conv_msg = _seeded_messages(LONG_CONVERSATION)[0]["id"]
    resp = _messages(client, SEEDED_CONVERSATION, first_id=other_conv_msg)
    assert resp.status_code == 404 and resp.json["message"] == "First Message Not Exists."
    assert _messages(client, SEEDED_CONVERSATION, first_id=UNKNOWN).status_code == 404
    assert _messages(client, SEEDED_CONVERSATION, first_id="xyz").status_code == 400
    missing = client.get(f"/v1/messages?user={SEEDED_USER}", headers=AUTH)
    assert missing.status_code == 400 and missing.json["message"].startswith("conversation_id:")
    # today: no user is the default end user, who does not own the seeded conversation
    no_user = client.get(f"/v1/messages?conversation_id={SEEDED_CONVERSATION}", headers=AUTH)
    assert no_user.status_code == 404 and no_user.json["message"] == "Conversation Not Exists."
    empty = client.get(f"/v1/messages?conversation_id=&user={SEEDED_USER}", headers=AUTH)
    assert empty.json == {"limit": 20, "has_more": False, "data": []}


def test_history_rules_of_2023(make_app) -> None:
    client = CheckedClient(make_app(era="2023"))
    no_user = client.get(f"/v1/messages?conversation_id={SEEDED_CONVERSATION}", headers=AUTH)
    assert no_user.status_code == 400 and no_user.json["message"].startswith("user:")
    empty = client.get(f"/v1/messages?conversation_id=&user={SEEDED_USER}", headers=AUTH)
    assert empty.status_code == 400 and empty.json["message"].startswith("conversation_id:")
    assert client.get("/v1/conversations", headers=AUTH).status_code == 400
    assert client.get(f"/v1/conversations?user={SEEDED_USER}&sort_by=name", headers=AUTH).status_code == 200


def test_default_end_user_owns_what_it_creates(client) -> None:
    sent = chat(client, "hello", user="DEFAULT-USER").json
    listed = client.get("/v1/conversations", headers=AUTH).json["data"]
    assert [c["id"] for c in listed] == [sent["conversation_id"]]
    url = f"/v1/conversations/{sent['conversation_id']}"
    assert client.post(url + "/name", headers=AUTH, json={"name": "Mine"}).json["name"] == "Mine"
    assert client.delete(url, headers=AUTH, json={}).status_code == 204


# ---------- conversations ----------


def _sorted_seed(user: str) -> list[dict]:
    convs = SEEDED[user]["conversations"]
    return sorted(convs, key=lambda c: (c["updated_at"], c["created_at"], c["id"]), reverse=True)


def _walk_conversations(client, user: str, limit: int) -> list[dict]:
    out, last_id = [], ""
    while True:
        body = client.get(f"/v1/conversations?user={user}&limit={limit}&last_id={last_id}", headers=AUTH).json
        assert body["limit"] == limit and len(body["data"]) <= limit
        out += body["data"]
        if not body["has_more"]:
            return out
        last_id = body["data"][-1]["id"]


@pytest.mark.parametrize("limit", [1, 3, 20, 25, 26, 100])
def test_walking_conversations_in_documented_order(client, limit) -> None:
    walked = _walk_conversations(client, SEEDED_USER, limit)
    assert [c["id"] for c in walked] == [c["id"] for c in _sorted_seed(SEEDED_USER)]


def test_conversations_first_page_and_exact_page(client) -> None:
    expected = _sorted_seed(SEEDED_USER)
    body = client.get(f"/v1/conversations?user={SEEDED_USER}", headers=AUTH).json
    assert body["has_more"] is True and [c["id"] for c in body["data"]] == [c["id"] for c in expected[:20]]
    exact = client.get(f"/v1/conversations?user={SEEDED_USER}&limit={len(expected)}", headers=AUTH).json
    assert exact["has_more"] is False and len(exact["data"]) == len(expected)
    seeded = {c["id"]: c for c in expected}
    for conv in exact["data"]:
        want = seeded[conv["id"]]
        assert (conv["name"], conv["created_at"], conv["updated_at"]) == (
            want["name"],
            want["created_at"],
            want["updated_at"],
        )


def test_conversations_empty_and_errors(client) -> None:
    assert client.get("/v1/conversations?user=nobody", headers=AUTH).json == {
        "limit": 20,
        "has_more": False,
        "data": [],
    }
    resp = client.get(f"/v1/conversations?user={SEEDED_USER}&last_id={UNKNOWN}", headers=AUTH)
    assert resp.status_code == 404 and resp.json["message"] == "Last Conversation Not Exists."
    foreign_last = SEEDED["lucy-7"]["conversations"][0]["id"]
    resp = client.get(f"/v1/conversations?user={SEEDED_USER}&last_id={foreign_last}", headers=AUTH)
    assert resp.status_code == 404
    assert client.get("/v1/conversations", headers=AUTH).json["data"] == []  # the default end user's


def test_users_see_only_their_own_conversations(client) -> None:
    lucy = client.get("/v1/conversations?user=lucy-7", headers=AUTH).json["data"]
    assert {c["id"] for c in lucy} == {c["id"] for c in SEEDED["lucy-7"]["conversations"]}
