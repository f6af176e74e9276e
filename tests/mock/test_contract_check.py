"""The response checker itself: it must catch each kind of broken response (principle 3)."""

from __future__ import annotations

import json

from tests.mock.contract_check import check_response

JSON = {"Content-Type": "application/json"}
SSE = {"Content-Type": "text/event-stream"}
GOOD_CONV_LIST = {"limit": 20, "has_more": False, "data": []}
MSG = (
    '{"event":"message","task_id":"2b8a1e3c-7d4f-4c1a-9e0b-5f6a7b8c9d01","id":"5ad4cb98-f0c7-4085-b384-88c403be6290",'
    '"message_id":"5ad4cb98-f0c7-4085-b384-88c403be6290",'
    '"conversation_id":"45701982-8118-4bc5-8e9b-64562b4555f2","answer":"x","created_at":1}'
)


def _body(value: object) -> bytes:
    return json.dumps(value).encode()


def test_accepts_a_conforming_response() -> None:
    assert check_response("GET", "/v1/conversations", 200, JSON, _body(GOOD_CONV_LIST)) == []


def test_rejects_schema_violation() -> None:
    assert check_response("GET", "/v1/conversations", 200, JSON, _body({"limit": 20, "data": []}))


def test_rejects_undocumented_status() -> None:
    assert check_response(
        "GET", "/v1/parameters", 502, JSON, _body({"code": "x", "message": "", "status": 502})
    )


def test_rejects_wrong_content_type() -> None:
    assert check_response("GET", "/v1/conversations", 200, {"Content-Type": "text/html"}, b"<html>")


def test_rejects_wrong_envelope_for_the_surface() -> None:
    chat_app_error = _body({"code": "invalid_param", "message": "m", "status": 400})
    assert check_response("POST", "/v1/chat/completions", 400, JSON, chat_app_error)
    assert check_response("POST", "/models/a/b", 400, JSON, chat_app_error)


def test_rejects_missing_retry_after_and_www_authenticate() -> None:
    body = _body({"code": "too_many_requests", "message": "m", "status": 429})
    assert check_response("GET", "/v1/parameters", 429, JSON, body)
    assert check_response("GET", "/v1/parameters", 429, {**JSON, "Retry-After": "2"}, body) == []
    unauth = _body({"code": "unauthorized", "message": "m", "status": 401})
    assert check_response("GET", "/v1/parameters", 401, JSON, unauth)


def test_rejects_bad_stream_frames() -> None:
    good = f"data: {MSG}\n\nevent: ping\n\n".encode()
    assert check_response("POST", "/v1/chat-messages", 200, SSE, good) == []
    assert check_response("POST", "/v1/chat-messages", 200, SSE, b'data: {"event":"message"}\n\n')
    assert check_response("POST", "/v1/chat-messages", 200, SSE, b"data: {not json\n\n")
    assert check_response("POST", "/v1/chat-messages", 200, SSE, f"data: {MSG}".encode())  # unterminated


def test_rejects_body_on_204_and_unknown_routes() -> None:
    assert check_response("DELETE", "/v1/conversations/45701982-8118-4bc5-8e9b-64562b4555f2", 204, {}, b"x")
    assert check_response("GET", "/v1/nope", 200, JSON, b"{}")
    not_found = _body({"code": "not_found", "message": "m", "status": 404})
    assert check_response("GET", "/v1/nope", 404, JSON, not_found) == []
    assert check_response("GET", "/v1/chat-messages", 404, JSON, not_found)  # known path: must be 405
