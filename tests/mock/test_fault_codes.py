"""Faults choose Dify's error code: `X-Mock-Fault: code=...`, with Dify's message unless one is given."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mock_server.faults import parse_fault
from tests.mock.conftest import AUTH, chat, events

ROOT = Path(__file__).resolve().parents[2]

CODES = yaml.safe_load((ROOT / "openapi.yaml").read_text())["components"]["schemas"]["ChatAppError"][
    "x-error-codes"
]


@pytest.fixture
def raw(make_app):
    """A plain test client: an injected fault may be a status the operation does not document."""
    return make_app().test_client()


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_listed_code_can_be_chosen(raw, code: str) -> None:
    status, message = CODES[code]
    resp = raw.get("/v1/parameters", headers={**AUTH, "X-Mock-Fault": f"code={code}"})
    assert resp.status_code == status
    assert resp.json == {"code": code, "message": message, "status": status}


def test_status_and_message_override_the_table(client) -> None:
    fault = "status=429;code=rate_limit_error;message=Slow down, please; retry_after=3"
    resp = client.get("/v1/parameters", headers={**AUTH, "X-Mock-Fault": fault})
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
    assert resp.json == {"code": "rate_limit_error", "message": "Slow down, please", "status": 429}


def test_a_code_on_a_chat_answer_and_in_a_stream(client) -> None:
    resp = chat(client, headers={"X-Mock-Fault": "status=400;code=provider_quota_exceeded"})
    assert resp.status_code == 400 and resp.json["code"] == "provider_quota_exceeded"
    assert resp.json["message"] == CODES["provider_quota_exceeded"][1]
    streamed = chat(
        client,
        response_mode="streaming",
        headers={"X-Mock-Fault": "error_after=1;code=completion_request_error"},
    )
    last = events(streamed)[-1]
    assert (last["event"], last["code"], last["status"]) == ("error", "completion_request_error", 400)


def test_unknown_or_empty_codes_are_refused(client) -> None:
    resp = client.get("/v1/parameters", headers={**AUTH, "X-Mock-Fault": "code=made_up"})
    assert resp.status_code == 400 and "unknown fault code 'made_up'" in resp.json["message"]
    with pytest.raises(ValueError, match="empty"):
        parse_fault("code=", CODES)
    with pytest.raises(ValueError, match="needs status="):
        parse_fault("message=hello", CODES)


def test_stored_faults_take_codes_too(client, app) -> None:
    added = app.test_client().post("/_mock/faults", json={"fault": "code=app_unavailable", "count": 1})
    assert added.status_code in (200, 201)
    resp = client.get("/v1/parameters", headers=AUTH)
    assert resp.status_code == 400 and resp.json["code"] == "app_unavailable"
    assert client.get("/v1/parameters", headers=AUTH).status_code == 200
