"""Validate every response the mock sends in the tests against openapi.yaml.

`CheckedClient` wraps Flask's test client: each response is matched to its contract operation by
method and URL, then its status, content type, headers and body are checked (JSON against the
response schema, SSE frames against the stream's itemSchema). Anything undocumented fails the test.
The checks live in `check_response`, so the tests can prove each one fails on a broken response.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlparse

from tests.contract import content_schema_errors, contract, parse_sse, resolve, validator

SURFACE_ENVELOPE = {
    "chat-app": "ChatAppError",
    "conversational": "HfError",
    "chat-completions": "OpenAiError",
}


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    op: dict[str, Any]

    @property
    def tag(self) -> str:
        return self.op["tags"][0]


def _base(*levels: dict[str, Any]) -> str:
    for level in levels:
        if level.get("servers"):
            return urlparse(level["servers"][0]["url"]).path.rstrip("/")
    return ""


@cache
def routes() -> list[Route]:
    doc = contract()
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            full = _base(op, item, doc) + path
            regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(full)) + "$"
            out.append(Route(method.upper(), re.compile(regex), op))
    return out


def find_route(method: str, path: str) -> tuple[Route | None, bool]:
    """(route, path_known): the operation for method+path, and whether the path exists at all."""
    path_known = False
    for route in routes():
        if route.pattern.match(path):
            path_known = True
            if route.method == method:
                return route, True
    return None, path_known


def surface_of(path: str) -> str:
    if path.startswith("/models/"):
        return "conversational"
    if path.startswith("/v1/chat/"):
        return "chat-completions"
    return "chat-app"


class ContractViolation(AssertionError):
    pass


def check_response(method: str, path: str, status: int, headers: dict[str, str], body: bytes) -> list[str]:
    """Everything wrong with one response; [] when it conforms to the contract."""
    route, path_known = find_route(method, path)
    content_type = headers.get("Content-Type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if route is None:
        # No operation: only a 404 (unknown path) or 405 (known path, wrong method) in the surface's envelope.
        expected = 405 if path_known else 404
        if status != expected:
            return [f"{method} {path}: no operation, expected {expected}, got {status}"]
        return _json_errors(
            body, media_type, {"$ref": f"#/components/schemas/{SURFACE_ENVELOPE[surface_of(path)]}"}
        )
    responses = route.op["responses"]
    response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
    if response is None:
        return [f"{route.op['operationId']}: status {status} is not documented ({sorted(responses)})"]
    response = resolve(response)
    errors = _header_errors(response, status, headers)
    content = response.get("content")
    if not content:
        if body:
            errors.append(f"{route.op['operationId']} {status}: documented without a body, got {body[:80]!r}")
        return errors
    documented = media_range(media_type, content)
    if documented is None:
        return errors + [
            f"{route.op['operationId']} {status}: content type {media_type!r} not in {sorted(content)}"
        ]
    media = content[documented]
    if "itemSchema" in media:
        return errors + sse_errors(body, media["itemSchema"])
    if media.get("schema", {}).get("contentMediaType") == "application/octet-stream":
        return errors if body else errors + [f"{route.op['operationId']} {status}: an empty binary body"]
    return errors + _json_errors(body, media_type, media["schema"])


def media_range(media_type: str, content: dict[str, Any]) -> str | None:
    """The documented media type (or range: `audio/*`, `*/*`) that `media_type` falls under."""
    for key in (media_type, media_type.split("/")[0] + "/*", "*/*"):
        if key in content:
            return key
    return None


def _header_errors(response: dict[str, Any], status: int, headers: dict[str, str]) -> list[str]:
    errors = []
    for name, spec in response.get("headers", {}).items():
        spec = resolve(spec)
        value = headers.get(name)
        if value is None:
            if spec.get("required") or (name == "Retry-After" and status in (429, 503)):
                errors.append(f"{status}: header {name} missing")
            continue
        schema = spec.get("schema", {})
        instance: Any = value
        if schema.get("type") == "integer":
            try:
                instance = int(value)
            except ValueError:
                errors.append(f"{status}: header {name}={value!r} is not an integer")
                continue
        errors += [f"header {name}: {e.message}" for e in validator(schema).iter_errors(instance)]
    if status == 401 and "WWW-Authenticate" not in headers:
        errors.append("401 without WWW-Authenticate")
    return errors


def _json_errors(body: bytes, media_type: str, schema: dict[str, Any]) -> list[str]:
    if media_type != "application/json":
        return [f"expected application/json, got {media_type!r}"]
    try:
        payload = json.loads(body)
    except ValueError as exc:
        return [f"body is not JSON: {exc}: {body[:120]!r}"]
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator(schema).iter_errors(payload)]


def sse_errors(body: bytes, item_schema: dict[str, Any]) -> list[str]:
    """Each frame must be a whole event (ending in a blank line) valid against the item schema."""
    text = body.decode("utf-8")
    errors = []
    if text and not text.endswith("\n\n"):
        errors.append(f"stream does not end with a complete frame: {text[-80:]!r}")
    for event in parse_sse(text):
        errors += [f"event {event}: {m}" for m in content_schema_errors(event, item_schema)]
    return errors


class CheckedClient:
    """Flask test client whose every response is checked against the contract."""

    def __init__(self, app: Any, allow_broken_streams: bool = False) -> None:
        self.client = app.test_client()
        self.checked = 0
        self.allow_broken_streams = allow_broken_streams

    def open(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.client.open(path, method=method, **kwargs)
        body = resp.get_data()
        errors = check_response(method, urlparse(path).path, resp.status_code, dict(resp.headers), body)
        if errors:
            raise ContractViolation(f"{method} {path} -> {resp.status_code}: " + "; ".join(errors))
        self.checked += 1
        return resp

    def get(self, path: str, **kw: Any) -> Any:
        return self.open("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.open("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.open("DELETE", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.open("PUT", path, **kw)


def check_requests_response(resp: Any, *args: Any, **kwargs: Any) -> Any:
    """A `requests` response hook: reads the whole body and checks it (streams included)."""
    path = urlparse(resp.request.url).path
    errors = check_response(resp.request.method, path, resp.status_code, dict(resp.headers), resp.content)
    if errors:
        raise ContractViolation(f"{resp.request.method} {path} -> {resp.status_code}: " + "; ".join(errors))
    return resp


def checked_session() -> Any:
    """A requests.Session whose every response is checked against the contract."""
    import requests

    session = requests.Session()
    session.hooks["response"].append(check_requests_response)
    return session
