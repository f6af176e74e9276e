"""Routing from the contract, auth, unknown routes and methods, CORS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mock_server import create_app
from mock_server.handlers import HANDLERS
from tests.contract import operations
from tests.mock.conftest import AUTH, KEY

CONVERSATION = "45701982-8118-4bc5-8e9b-64562b4555f2"
SAMPLE_URLS = {
    "chat-app": ("GET", "/v1/parameters"),
    "conversational": ("POST", "/models/microsoft/DialoGPT-large"),
    "chat-completions": ("POST", "/v1/chat/completions"),
}


def test_every_contract_operation_is_routed(app) -> None:
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    for path, method, op in operations():
        rule = rules[op["operationId"]]
        assert method.upper() in rule.methods
        assert rule.rule.endswith(path.replace("{", "<").replace("}", ">"))


def test_a_contract_operation_without_handler_is_a_startup_error(tmp_path: Path) -> None:
    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())
    doc["paths"]["/extra"] = {"get": {"operationId": "notImplemented", "tags": ["chat-app"], "responses": {}}}
    broken = tmp_path / "openapi.yaml"
    broken.write_text(yaml.safe_dump(doc))
    with pytest.raises(RuntimeError, match="notImplemented"):
        create_app({"contract_path": str(broken), "store": str(tmp_path / "s.sqlite3")})
    assert "notImplemented" not in HANDLERS


def test_unknown_config_key_is_refused() -> None:
    with pytest.raises(ValueError, match="bogus"):
        create_app({"bogus": 1})


@pytest.mark.parametrize("surface", sorted(SAMPLE_URLS))
@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer", f"Bearer {KEY}x"])
def test_auth_failures_use_the_surface_envelope(client, surface: str, header: str | None) -> None:
    method, url = SAMPLE_URLS[surface]
    headers = {"Authorization": header} if header else {}
    resp = client.open(method, url, headers=headers, json={})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    if surface == "chat-app":
        expected = (
            "Access token is invalid"
            if header and header.startswith(f"Bearer {KEY}")
            else ("Authorization header must be provided and start with 'Bearer'")
        )
        assert resp.json == {"code": "unauthorized", "message": expected, "status": 401}
    elif surface == "chat-completions":
        assert set(resp.json["error"]) == {"message", "type", "param", "code"}
    else:
        assert isinstance(resp.json["error"], str)


def test_keys_from_env_and_config(make_app, monkeypatch) -> None:
    from tests.mock.contract_check import CheckedClient

    monkeypatch.setenv("CHAT_MOCK_API_KEYS", "app-one, app-two")
    client = CheckedClient(make_app(api_keys=[]))
    assert client.get("/v1/parameters", headers={"Authorization": "Bearer app-two"}).status_code == 200
    assert client.get("/v1/parameters", headers=AUTH).status_code == 401


@pytest.mark.parametrize(
    ("method", "url", "surface_key"),
    [
        ("GET", "/v1/nothing-here", "code"),
        ("GET", "/models/a/b/c", "error"),
        ("GET", "/v1/chat/other", "error"),
        ("GET", "/v1/chat-messages", "code"),
        ("GET", "/models/a/b", "error"),
        ("PUT", "/v1/chat/completions", "error"),
    ],
)
def test_unknown_route_and_wrong_method(client, method: str, url: str, surface_key: str) -> None:
    resp = client.open(method, url, headers=AUTH)
    assert resp.status_code in (404, 405)
    assert resp.mimetype == "application/json"
    assert surface_key in resp.json


def test_cors_preflight_and_headers(client) -> None:
    pre = client.client.options(
        "/v1/chat-messages",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert pre.headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    for resp in (client.get("/v1/parameters", headers=AUTH), client.get("/v1/parameters")):
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "Retry-After" in resp.headers["Access-Control-Expose-Headers"]


def test_crash_is_an_envelope_not_html(app, monkeypatch) -> None:
    from mock_server.handlers import HANDLERS as table
    from tests.mock.contract_check import CheckedClient

    def boom(call):
        raise RuntimeError("kaput")

    monkeypatch.setitem(table, "getParameters", boom)
    resp = CheckedClient(app).get("/v1/parameters", headers=AUTH)
    assert resp.status_code == 500
    assert resp.json["code"] == "internal_server_error"
    assert "kaput" in resp.json["message"]


@pytest.mark.parametrize("url", ["/v1/chat-messages", "/v1/chat/completions", "/models/a/b"])
def test_a_body_of_the_wrong_json_type_is_400_naming_body(client, url: str) -> None:
    resp = client.post(url, headers=AUTH, json=[])
    assert resp.status_code == 400
    assert "body: [] is not of type 'object'" in json.dumps(resp.json)
