"""The admin API is not open to web pages: no CORS, no cross-origin browser requests, no DNS
rebinding, JSON bodies only; tokens need the Bearer scheme; the journal keeps no credentials."""

from __future__ import annotations

import pytest
import requests

from tests.mock.conftest import AUTH, SEEDED_USER

FAULT = {"fault": "status=503"}


def test_api_surfaces_keep_cors_and_the_admin_api_sends_none(app) -> None:
    web = app.test_client()
    api = web.get("/v1/parameters", headers={**AUTH, "Origin": "http://localhost:3000"})
    assert api.headers["Access-Control-Allow-Origin"] == "*"
    preflight = web.options(
        "/v1/chat-messages",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == "*"
    for path in ("/_mock/health", "/_mock/journal", "/_mock/faults"):
        resp = web.get(path)
        assert resp.status_code == 200
        assert not [h for h, _ in resp.headers.items() if h.lower().startswith("access-control-")], path


@pytest.mark.parametrize("path", ["/_mock/reset", "/_mock/faults", "/_mock/journal"])
def test_admin_preflight_is_refused(app, path) -> None:
    resp = app.test_client().options(
        path,
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert resp.status_code == 403
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert resp.json["code"] == "forbidden"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:3000"},  # another port of the same machine is another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_cross_origin_browser_requests_are_refused(app, headers) -> None:
    web = app.test_client()
    web.post("/v1/chat-messages", json={"inputs": {"book": "x"}, "query": "q", "user": "kept"}, headers=AUTH)
    for method, path in [("POST", "/_mock/reset"), ("GET", "/_mock/journal"), ("DELETE", "/_mock/journal")]:
        resp = web.open(path, method=method, headers=headers)
        assert resp.status_code == 403, (method, path, resp.json)
        assert "not for web pages" in resp.json["message"]
    kept = web.get("/v1/conversations", query_string={"user": "kept"}, headers=AUTH).json["data"]
    assert len(kept) == 1  # the reset never happened


def test_same_origin_and_tools_are_served(app) -> None:
    web = app.test_client()
    assert web.get("/_mock/health", headers={"Origin": "http://localhost"}).status_code == 200
    assert web.get("/_mock/health", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert web.get("/_mock/health", headers={"Sec-Fetch-Site": "none"}).status_code == 200  # typed URL
    assert web.post("/_mock/reset").status_code == 200  # curl: no Origin, no body


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", '{"fault": "status=503"}'),  # a CORS "simple request": no preflight
        ("application/x-www-form-urlencoded", "fault=status%3D503"),
        (
            "multipart/form-data; boundary=x",
            '--x\r\nContent-Disposition: form-data; name="fault"\r\n\r\n1\r\n--x--',
        ),
        (None, '{"fault": "status=503"}'),
    ],
)
def test_admin_bodies_need_a_json_content_type(app, content_type, data) -> None:
    web = app.test_client()
    headers = {"Content-Type": content_type} if content_type else {}
    resp = web.post("/_mock/faults", data=data, headers=headers)
    assert resp.status_code == 415 and "application/json" in resp.json["message"]
    assert web.get("/_mock/faults").json["data"] == []
    assert web.post("/_mock/faults", json=FAULT).status_code == 201


def test_fixtures_take_yaml_too(app) -> None:
    resp = app.test_client().post(
        "/_mock/fixtures", data="users: []\n", headers={"Content-Type": "application/yaml"}
    )
    assert resp.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5001", "attacker.localhost.evil.example"])
def test_dns_rebinding_hosts_are_refused_without_a_token(app, host) -> None:
    resp = app.test_client().get("/_mock/journal", headers={"Host": host})
    assert resp.status_code == 403 and "--admin-token" in resp.json["message"]


@pytest.mark.parametrize(
    "host", ["localhost:5001", "127.0.0.1:5001", "[::1]:5001", "10.0.0.7", "app.localhost"]
)
def test_loopback_and_ip_hosts_are_served(app, host) -> None:
    assert app.test_client().get("/_mock/health", headers={"Host": host}).status_code == 200


def test_token_needs_the_bearer_scheme(make_app) -> None:
    web = make_app(admin_token="s3cret").test_client()
    assert web.get("/_mock/health").status_code == 401
    assert web.get("/_mock/health", headers={"Authorization": "s3cret"}).status_code == 401
    assert web.get("/_mock/health", headers={"Authorization": "Basic s3cret"}).status_code == 401
    assert web.get("/_mock/health", headers={"Authorization": "Bearer s3cretX"}).status_code == 401
    assert web.get("/_mock/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert web.get("/_mock/health", headers={"X-Mock-Admin-Token": "s3cret"}).status_code == 200
    # with a token, a host name is fine (the token is what a rebinding page cannot know)
    named = web.get("/_mock/health", headers={"X-Mock-Admin-Token": "s3cret", "Host": "mock.internal"})
    assert named.status_code == 200
    # ... but a web page is still refused, token or not
    page = web.get("/_mock/health", headers={"X-Mock-Admin-Token": "s3cret", "Origin": "http://evil.example"})
    assert page.status_code == 403


def test_journal_redacts_credentials_in_headers_and_query(live_server) -> None:
    base = live_server()
    secrets = {
        "Cookie": "session=abc",
        "Proxy-Authorization": "Basic dXNlcjpwYXNz",
        "X-Api-Key": "sk-live-1",
        "Api-Key": "sk-live-2",
        "X-Auth-Token": "tok-3",
        "X-Mock-Admin-Token": "adm",
    }
    query = f"user={SEEDED_USER}&api_key=sk-q1&access_token=sk-q2&limit=2&X-API-KEY=sk-q3&key=sk-q4"
    resp = requests.get(
        f"{base}/v1/conversations?{query}",
        headers={**AUTH, **secrets, "X-Mock-Token-Interval-Ms": "5", "X-Request-Id": "r-1"},
        timeout=10,
    )
    assert resp.status_code == 200
    entry = requests.get(f"{base}/_mock/journal?limit=1", timeout=10).json()["data"][0]
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    for name in [*secrets, "Authorization"]:
        assert headers[name.lower()] == "<redacted>", name
    assert headers["x-mock-token-interval-ms"] == "5" and headers["x-request-id"] == "r-1"
    assert "sk-" not in entry["query"] and "sk-" not in str(entry)
    assert entry["query"] == (
        f"user={SEEDED_USER}&api_key=<redacted>&access_token=<redacted>&limit=2"
        "&X-API-KEY=<redacted>&key=<redacted>"
    )


SECRET_QUERY_NAMES = [
    "accessToken", "clientSecret", "idToken", "authToken", "jwt", "bearer", "pass", "api_key[]",
    "refresh_token", "Password", "x-amz-signature", "privateKey", "sessionId", "otp",
]  # fmt: skip
SECRET_HEADERS = ["X-Jwt", "X-Bearer", "Authentication", "X-Accesstoken", "X-Apitoken", "X-Client-Secret"]
PLAIN_QUERY = {"keyword": "die-hard", "limit": "2", "sort_by": "-updated_at", "first_id": "", "nonce": "n"}


def test_journal_redacts_credentials_by_the_shape_of_their_name(live_server) -> None:
    """Names are split into words (camelCase, `-`, `_`, `[]`, `.`) and judged by pattern, so forms
    no list names (`clientSecret`, `X-Accesstoken`, `api_key[]`) are redacted too; `;` separates
    query pairs as `&` does."""
    from urllib.parse import quote

    base = live_server()
    query = "&".join(f"{quote(name)}=sk-q{i}" for i, name in enumerate(SECRET_QUERY_NAMES))
    query += f"&user={SEEDED_USER};token=sk-semicolon&" + "&".join(f"{k}={v}" for k, v in PLAIN_QUERY.items())
    headers = {name: f"sk-h{i}" for i, name in enumerate(SECRET_HEADERS)}
    resp = requests.get(
        f"{base}/v1/conversations?{query}",
        headers={**AUTH, **headers, "X-Request-Id": "r-1", "X-Mock-Token-Interval-Ms": "5"},
        timeout=10,
    )
    assert resp.status_code in (200, 400)
    entry = requests.get(f"{base}/_mock/journal?limit=1", timeout=10).json()["data"][0]
    assert "sk-" not in str(entry), entry
    kept = {k.lower(): v for k, v in entry["headers"].items()}
    for name in SECRET_HEADERS:
        assert kept[name.lower()] == "<redacted>", name
    assert kept["x-request-id"] == "r-1" and kept["x-mock-token-interval-ms"] == "5"
    for name, value in PLAIN_QUERY.items():
        assert f"{name}={value}" in entry["query"], name
    assert f"user={SEEDED_USER};token=<redacted>" in entry["query"]


def test_journal_redacts_the_signature_of_the_mocks_own_file_links(live_server) -> None:
    base = live_server()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    record = requests.post(
        f"{base}/v1/files/upload",
        headers=AUTH,
        files={"file": ("poster.png", png, "image/png")},
        data={"user": "signed-link"},
        timeout=10,
    ).json()
    link = record["source_url"].replace("http://localhost", base)
    sign = link.rsplit("sign=", 1)[1]
    assert requests.get(link, timeout=10).status_code == 200
    entry = requests.get(f"{base}/_mock/journal?limit=1", timeout=10).json()["data"][0]
    assert entry["path"].endswith("/file-preview")
    assert sign not in str(entry) and "sign=<redacted>" in entry["query"]
    assert "timestamp=" in entry["query"] and "nonce=" in entry["query"]
