"""Today's other operations: suggested questions, conversation variables, info, meta, site, end
users, the app's feedbacks, and annotations with their reply setting (every answer contract-checked)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from mock_server.ids import end_user_id
from tests.contract import component
from tests.mock.conftest import AUTH, KEY, SEEDED_CONVERSATION, SEEDED_USER, chat, fixtures_with
from tests.mock.contract_check import CheckedClient

ROOT = Path(__file__).resolve().parents[2]
APP = yaml.safe_load((ROOT / "fixtures" / "app.yaml").read_text())
CHATFLOW = yaml.safe_load((ROOT / "fixtures" / "apps" / "chatflow.yaml").read_text())
FLOW = {"Authorization": f"Bearer {CHATFLOW['key']}"}  # the app that declares conversation variables
UNKNOWN = "3f1b8a1e-0000-4000-8000-000000000000"
REPLY_BODY = {"score_threshold": 0.8, "embedding_provider_name": "openai", "embedding_model_name": "m"}


# ---------------------------------------------------------------- suggested questions


def test_suggested_questions_after_an_answer(client: CheckedClient) -> None:
    answer = chat(client, "Which movie is the best?").json
    resp = client.get(f"/v1/messages/{answer['id']}/suggested?user=u1", headers=AUTH)
    assert resp.status_code == 200
    assert resp.json == {
        "result": "success",
        "data": ["Can you explain why?", "Who directed Die Hard?", "Is Die Hard a Christmas movie?"],
    }
    other = chat(client, "Something without suggestions of its own").json
    data = client.get(f"/v1/messages/{other['id']}/suggested?user=u1", headers=AUTH).json["data"]
    assert data == [
        "Who directed Die Hard?",
        "Is Die Hard a Christmas movie?",
        "What should I watch tonight?",
    ]


def test_suggested_questions_errors(client: CheckedClient) -> None:
    answer = chat(client).json
    foreign = client.get(f"/v1/messages/{answer['id']}/suggested?user=u2", headers=AUTH)
    assert foreign.status_code == 404 and foreign.json["message"] == "Message Not Exists."
    assert client.get(f"/v1/messages/{UNKNOWN}/suggested?user=u1", headers=AUTH).status_code == 404
    missing_user = client.get(f"/v1/messages/{answer['id']}/suggested", headers=AUTH)
    assert missing_user.status_code == 400 and missing_user.json["code"] == "invalid_param"


def test_suggested_questions_disabled_is_bad_request(make_app, tmp_path: Path) -> None:
    def off(doc: dict[str, Any]) -> None:
        doc["parameters"]["suggested_questions_after_answer"] = {"enabled": False}

    client = CheckedClient(make_app(fixtures_dir=str(fixtures_with(tmp_path, off))))
    answer = chat(client).json
    resp = client.get(f"/v1/messages/{answer['id']}/suggested?user=u1", headers=AUTH)
    assert resp.status_code == 400
    assert resp.json == {"code": "bad_request", "message": "Suggested Questions Is Disabled.", "status": 400}


# ---------------------------------------------------------------- conversation variables


def _variables(client: CheckedClient, conv: str, user: str = "u1", headers: Any = None, **params: Any) -> Any:
    query = "&".join(f"{k}={v}" for k, v in {"user": user, **params}.items())
    return client.get(f"/v1/conversations/{conv}/variables?{query}", headers=headers or FLOW)


def _flow_chat(client: CheckedClient, user: str = "u1") -> str:
    """A new conversation of the chatflow app (it answers in streams only)."""
    resp = chat(client, user=user, headers=FLOW, response_mode="streaming")
    return next(e["conversation_id"] for e in _events(resp) if e.get("conversation_id"))


def test_variables_are_the_declared_ones_paged_oldest_first(client: CheckedClient) -> None:
    conv = _flow_chat(client)
    declared = [v["name"] for v in CHATFLOW["conversation_variables"]]
    everything = _variables(client, conv, limit=100).json
    assert [v["name"] for v in everything["data"]] == declared and everything["has_more"] is False
    seen, last_id = [], ""
    for _ in range(len(declared)):
        page = _variables(client, conv, limit=2, last_id=last_id).json
        assert len(page["data"]) <= 2 and page["limit"] == 2
        seen += [v["name"] for v in page["data"]]
        if not page["has_more"]:
            break
        last_id = page["data"][-1]["id"]
    assert seen == declared
    assert everything["data"][0]["value"] == "action" and everything["data"][1]["value"] == "0"


def test_variable_name_filters_case_insensitively(client: CheckedClient) -> None:
    conv = _flow_chat(client)
    names = [v["name"] for v in _variables(client, conv, variable_name="FILM").json["data"]]
    assert names == ["films_watched"]
    assert _variables(client, conv, variable_name="no-such").json["data"] == []
    assert _variables(client, conv, variable_name="bad'name").status_code == 400


def test_variables_errors(client: CheckedClient) -> None:
    conv = _flow_chat(client)
    foreign = _variables(client, conv, user="u2")
    assert foreign.status_code == 404 and foreign.json["message"] == "Conversation Not Exists."
    assert _variables(client, UNKNOWN).status_code == 404
    last = _variables(client, conv, last_id=UNKNOWN)
    assert last.status_code == 404 and last.json["message"] == "Conversation Variable Not Exists."
    assert _variables(client, conv, limit=0).status_code == 400
    assert _variables(client, conv, limit=101).status_code == 400


def _put(client: CheckedClient, conv: str, var_id: str, value: Any, user: str = "u1") -> Any:
    return client.put(
        f"/v1/conversations/{conv}/variables/{var_id}", headers=FLOW, json={"value": value, "user": user}
    )


def test_update_validates_the_value_by_the_variables_type(client: CheckedClient) -> None:
    conv = _flow_chat(client)
    by_name = {v["name"]: v for v in _variables(client, conv).json["data"]}
    cases = {
        "favourite_genre": ("comedy", 3),
        "films_watched": (12.5, "twelve"),
        "spoilers_ok": (True, "yes"),
        "watchlist": (["Heat", "Ronin"], ["Heat", 3]),
        "profile": ({"likes": ["Die Hard"]}, ["not", "an", "object"]),
    }
    for name, (good, bad) in cases.items():
        refused = _put(client, conv, by_name[name]["id"], bad)
        assert refused.status_code == 400 and refused.json["code"] == "bad_request", name
        assert refused.json["message"].startswith(f"Type mismatch: variable '{name}' expects "), refused.json
        done = _put(client, conv, by_name[name]["id"], good)
        assert done.status_code == 200 and done.json["id"] == by_name[name]["id"], name
    after = {v["name"]: v["value"] for v in _variables(client, conv).json["data"]}
    assert after == {
        "favourite_genre": "comedy",
        "films_watched": "12.5",
        "spoilers_ok": "true",
        "watchlist": '["Heat", "Ronin"]',
        "profile": '{"likes": ["Die Hard"]}',
    }


def test_update_errors_and_isolation(client: CheckedClient) -> None:
    conv = _flow_chat(client)
    var_id = _variables(client, conv).json["data"][0]["id"]
    foreign = _put(client, conv, var_id, "x", user="u2")
    assert foreign.status_code == 404 and foreign.json["message"] == "Conversation Not Exists."
    unknown = _put(client, conv, UNKNOWN, "x")
    assert unknown.status_code == 404 and unknown.json["message"] == "Conversation Variable Not Exists."
    assert (
        client.put(
            f"/v1/conversations/{conv}/variables/{var_id}", headers=AUTH, json={"user": "u1"}
        ).status_code
        == 400
    )
    assert _variables(client, conv).json["data"][0]["value"] == "action"


def test_deleting_a_conversation_drops_its_variables(client: CheckedClient) -> None:
    conv = _flow_chat(client)
    assert _variables(client, conv).status_code == 200
    assert client.delete(f"/v1/conversations/{conv}", headers=FLOW, json={"user": "u1"}).status_code == 204
    assert _variables(client, conv).status_code == 404


def test_a_chat_app_has_no_conversation_variables(client: CheckedClient) -> None:
    conv = chat(client).json["conversation_id"]
    page = _variables(client, conv, headers=AUTH).json
    assert page == {"limit": 20, "has_more": False, "data": []}


# ---------------------------------------------------------------- info, meta, site


def test_info_meta_and_site_are_the_fixture_app(client: CheckedClient) -> None:
    info = client.get("/v1/info", headers=AUTH).json
    assert info == {key: APP["app"][key] for key in ("name", "description", "tags", "mode", "author_name")}
    assert client.get("/v1/meta", headers=AUTH).json == {"tool_icons": {}}
    site = client.get("/v1/site", headers=AUTH).json
    assert site == APP["site"] and site["title"] == "Film Buff"


def test_each_key_is_its_apps_info_meta_and_site(client: CheckedClient) -> None:
    flow_info = client.get("/v1/info", headers=FLOW).json
    assert flow_info["name"] == CHATFLOW["app"]["name"] and flow_info["mode"] == "advanced-chat"
    assert client.get("/v1/site", headers=FLOW).json["title"] == CHATFLOW["app"]["name"]
    agent = yaml.safe_load((ROOT / "fixtures" / "apps" / "agent.yaml").read_text())
    icons = client.get("/v1/meta", headers={"Authorization": f"Bearer {agent['key']}"}).json["tool_icons"]
    assert set(icons) == {"film_search", "poster_maker"}


# ---------------------------------------------------------------- end users


def test_end_users_are_recorded_by_the_requests_that_name_them(client: CheckedClient) -> None:
    upload = client.post(
        "/v1/files/upload",
        headers=AUTH,
        data={"user": "shopper-9", "file": (__import__("io").BytesIO(b"hi"), "a.txt")},
    ).json
    user = client.get(f"/v1/end-users/{upload['created_by']}", headers=AUTH)
    assert user.status_code == 200
    assert user.json["external_user_id"] == "shopper-9" and user.json["session_id"] == "shopper-9"
    assert user.json["type"] == "service_api" and user.json["is_anonymous"] is False
    client.get("/v1/conversations", headers=AUTH)  # no `user`: the app's default end user
    default = client.get(f"/v1/end-users/{end_user_id(KEY, 'DEFAULT-USER')}", headers=AUTH).json
    assert default["is_anonymous"] is True
    seeded = client.get(f"/v1/end-users/{end_user_id(KEY, SEEDED_USER)}", headers=AUTH).json
    assert seeded["external_user_id"] == SEEDED_USER


def test_unknown_end_user_and_other_apps_users_are_404(client: CheckedClient) -> None:
    resp = client.get(f"/v1/end-users/{uuid.uuid4()}", headers=AUTH)
    assert resp.status_code == 404 and resp.json["code"] == "end_user_not_found"
    other_app = client.get(f"/v1/end-users/{end_user_id('app-other', SEEDED_USER)}", headers=AUTH)
    assert other_app.status_code == 404


# ---------------------------------------------------------------- the app's feedbacks


def test_app_feedbacks_list_every_users_ratings_newest_first(client: CheckedClient) -> None:
    first = chat(client, user="fan-1").json
    second = chat(client, user="fan-2").json
    for user, message, rating in (("fan-1", first, "like"), ("fan-2", second, "dislike")):
        body = {"rating": rating, "user": user, "content": f"{rating}d it"}
        assert (
            client.post(f"/v1/messages/{message['id']}/feedbacks", headers=AUTH, json=body).status_code == 200
        )
    data = client.get("/v1/app/feedbacks?limit=2", headers=AUTH).json["data"]
    assert [(f["message_id"], f["rating"], f["content"]) for f in data] == [
        (second["id"], "dislike", "disliked it"),
        (first["id"], "like", "liked it"),
    ]
    assert data[0]["from_end_user_id"] == end_user_id(KEY, "fan-2") and data[0]["from_source"] == "user"
    # UTC without an offset, as Dify 1.12.1 writes them (chatflow/021-app_feedbacks.json)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", f["created_at"]) for f in data)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", f["updated_at"]) for f in data)
    everything = client.get("/v1/app/feedbacks?limit=101", headers=AUTH).json["data"]
    assert SEEDED_CONVERSATION in {f["conversation_id"] for f in everything}  # seeded ratings too
    revoke = {"rating": None, "user": "fan-1"}
    client.post(f"/v1/messages/{first['id']}/feedbacks", headers=AUTH, json=revoke)
    after = client.get("/v1/app/feedbacks?limit=101", headers=AUTH).json["data"]
    assert first["id"] not in {f["message_id"] for f in after}
    assert client.get("/v1/app/feedbacks?limit=102", headers=AUTH).status_code == 400
    assert client.get("/v1/app/feedbacks?page=0", headers=AUTH).status_code == 400


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2026-12-07T16:47:59", True),  # Dify 1.12.1: UTC without an offset
        ("2024-01-16T08:16:41Z", True),  # a server that writes the offset is as legal
        ("2024-01-16T08:16:41.123456+00:00", True),
        ("2024-01-16 08:16:41", False),
        ("1705393001", False),
    ],
)
def test_the_contract_takes_both_forms_of_an_iso_time(value: str, valid: bool) -> None:
    assert (not list(component("IsoDateTime").iter_errors(value))) is valid


# ---------------------------------------------------------------- annotations


def _annotate(client: CheckedClient, question: str, answer: str) -> dict[str, Any]:
    resp = client.post("/v1/apps/annotations", headers=AUTH, json={"question": question, "answer": answer})
    assert resp.status_code == 201
    return resp.json


def test_annotations_create_list_update_delete(client: CheckedClient) -> None:
    made = [_annotate(client, f"Question {i}?", f"Answer {i}.") for i in range(5)]
    assert made[0]["hit_count"] == 0
    page1 = client.get("/v1/apps/annotations?limit=2", headers=AUTH).json
    assert [a["id"] for a in page1["data"]] == [made[4]["id"], made[3]["id"]]
    assert (page1["total"], page1["page"], page1["limit"], page1["has_more"]) == (5, 1, 2, True)
    page3 = client.get("/v1/apps/annotations?limit=2&page=3", headers=AUTH).json
    assert [a["id"] for a in page3["data"]] == [made[0]["id"]] and page3["has_more"] is False
    found = client.get("/v1/apps/annotations?keyword=ANSWER 3", headers=AUTH).json
    assert [a["id"] for a in found["data"]] == [made[3]["id"]] and found["total"] == 1
    changed = client.put(
        f"/v1/apps/annotations/{made[1]['id']}", headers=AUTH, json={"question": "New?", "answer": "New."}
    )
    assert changed.status_code == 200 and changed.json["question"] == "New?"
    assert changed.json["created_at"] == made[1]["created_at"]
    assert client.delete(f"/v1/apps/annotations/{made[1]['id']}", headers=AUTH).status_code == 204
    gone = client.delete(f"/v1/apps/annotations/{made[1]['id']}", headers=AUTH)
    assert gone.status_code == 404 and gone.json["message"] == "Annotation not found."
    put_gone = client.put(
        f"/v1/apps/annotations/{made[1]['id']}", headers=AUTH, json={"question": "a", "answer": "b"}
    )
    assert put_gone.status_code == 404
    assert client.get("/v1/apps/annotations", headers=AUTH).json["total"] == 4
    assert client.post("/v1/apps/annotations", headers=AUTH, json={"question": "only"}).status_code == 400


def test_annotation_reply_answers_a_matching_query(client: CheckedClient) -> None:
    annotation = _annotate(client, "Who are you?", "I am Film Buff, the annotated answer.")
    assert chat(client, "Who are you?").json["answer"] != annotation["answer"]  # replies are off
    job = client.post("/v1/apps/annotation-reply/enable", headers=AUTH, json=REPLY_BODY).json
    assert job["job_status"] in {"waiting", "processing"}
    status = client.get(f"/v1/apps/annotation-reply/enable/status/{job['job_id']}", headers=AUTH).json
    assert status == {"job_id": job["job_id"], "job_status": "completed", "error_msg": ""}
    assert client.get("/v1/parameters", headers=AUTH).json["annotation_reply"]["enabled"] is True
    answered = chat(client, "who are you").json
    assert answered["answer"] == annotation["answer"]  # close enough
    hit = answered["metadata"]["annotation_reply"]  # Dify's {id, account: {id, name}}
    assert hit["id"] == annotation["id"] and hit["account"]["name"] == "Chat Contract Kit"
    assert chat(client, "Which movie is the best?").json["metadata"]["annotation_reply"] is None
    assert chat(client, "Which movie is the best?").json["answer"] == "It's Die Hard for sure."
    streamed = chat(client, "Who are you?", response_mode="streaming")
    pieces = [e["answer"] for e in _events(streamed) if e["event"] == "message"]
    assert "".join(pieces) == annotation["answer"]
    assert _events(streamed)[-1]["metadata"]["annotation_reply"]["id"] == annotation["id"]
    hits = client.get("/v1/apps/annotations", headers=AUTH).json["data"][0]["hit_count"]
    assert hits == 2
    off = client.post("/v1/apps/annotation-reply/disable", headers=AUTH, json=REPLY_BODY).json
    assert (
        client.get(f"/v1/apps/annotation-reply/disable/status/{off['job_id']}", headers=AUTH).status_code
        == 200
    )
    assert client.get("/v1/parameters", headers=AUTH).json["annotation_reply"] == {"enabled": False}
    assert chat(client, "Who are you?").json["answer"] != annotation["answer"]


def test_every_worker_follows_the_reply_setting_and_its_wipes(make_app) -> None:
    """Each worker caches the setting (MockState.reply_setting): a change made through another
    worker, a reset and a fixtures replace must all reach it on its next message."""
    a, b = CheckedClient(make_app()), CheckedClient(make_app())
    annotation = _annotate(a, "Who are you?", "I am Film Buff, the annotated answer.")
    assert chat(a, "Who are you?").json["answer"] != annotation["answer"]  # off, and now cached
    assert b.post("/v1/apps/annotation-reply/enable", headers=AUTH, json=REPLY_BODY).status_code == 200
    assert chat(a, "Who are you?").json["answer"] == annotation["answer"]
    assert a.get("/v1/parameters", headers=AUTH).json["annotation_reply"]["enabled"] is True
    assert b.client.post("/_mock/fixtures?replace=true", json={"users": []}).status_code == 200
    assert a.get("/v1/parameters", headers=AUTH).json["annotation_reply"] == {"enabled": False}
    annotation = _annotate(b, "Who are you?", "Annotated again.")
    assert b.post("/v1/apps/annotation-reply/enable", headers=AUTH, json=REPLY_BODY).status_code == 200
    assert chat(a, "Who are you?").json["answer"] == annotation["answer"]
    assert b.client.post("/_mock/reset").status_code == 200
    assert a.get("/v1/parameters", headers=AUTH).json["annotation_reply"] == {"enabled": False}
    assert chat(a, "Who are you?").json["metadata"]["annotation_reply"] is None


def test_annotation_reply_errors(client: CheckedClient) -> None:
    # an action outside the enum: 400 invalid_param, as Dify (chatflow/075-annotation_reply_bad_action.json)
    for body in (REPLY_BODY, {}):
        resp = client.post("/v1/apps/annotation-reply/toggle", headers=AUTH, json=body)
        assert (resp.status_code, resp.json["code"]) == (400, "invalid_param")
    toggled = client.get(f"/v1/apps/annotation-reply/toggle/status/{UNKNOWN}", headers=AUTH)
    assert (toggled.status_code, toggled.json["message"]) == (400, "The job does not exist.")
    partial = {"score_threshold": 0.9}
    assert client.post("/v1/apps/annotation-reply/enable", headers=AUTH, json=partial).status_code == 400
    job = client.post("/v1/apps/annotation-reply/enable", headers=AUTH, json=REPLY_BODY).json["job_id"]
    wrong_action = client.get(f"/v1/apps/annotation-reply/disable/status/{job}", headers=AUTH)
    assert wrong_action.status_code == 400 and wrong_action.json["message"] == "The job does not exist."
    assert client.get(f"/v1/apps/annotation-reply/enable/status/{UNKNOWN}", headers=AUTH).status_code == 400


def test_annotations_belong_to_one_app(make_app) -> None:
    client = CheckedClient(make_app(api_keys=[KEY, "app-second-key"]))
    mine = _annotate(client, "Mine?", "Yes.")
    other = {"Authorization": "Bearer app-second-key"}
    assert client.get("/v1/apps/annotations", headers=other).json["total"] == 0
    assert client.delete(f"/v1/apps/annotations/{mine['id']}", headers=other).status_code == 404


def _events(resp: Any) -> list[dict[str, Any]]:
    from tests.mock.conftest import events

    return events(resp)
