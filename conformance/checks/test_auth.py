"""auth: a missing, malformed or wrong key gets 401 with the surface's error envelope, on every operation."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest

from conformance import contract
from conformance.checking import check, expect_error
from conformance.http import Client
from conformance.offered import skip_unless_offered
from conformance.options import Options
from conformance.run import Run
from conformance.samples import tiny_wav

OPS = contract.operations()
CLIENT_FIXTURE = {
    "chat-app": "client",
    "conversational": "conversational_client",
    "chat-completions": "completions_client",
}


def app_write(op: contract.Operation) -> bool:
    """A write of the app's own data (`x-resource-owner: app`, not a GET): annotations, settings."""
    return op.spec.get("x-resource-owner") == "app" and op.method != "GET"


def request_for(op: contract.Operation, options: Options, run: Run) -> dict[str, Any]:
    """A well-formed request for `op` (path from the contract, body from its example).

    Ids are fresh UUIDs (nothing of anybody's), a path value with an `enum` its first value. A write
    of the app's own data gets an empty body: a server that ignores the key refuses it (400) instead
    of changing data the suite does not own.
    """
    path = op.path
    for name in op.path_params():
        value = str(uuid.uuid4())
        schema = contract.resolve((op.parameter(name, "path") or {}).get("schema") or {})
        if schema.get("enum"):
            value = str(schema["enum"][0])
        if name in ("owner", "model"):
            owner, _, model = options.conversational_model.partition("/")
            value = owner if name == "owner" else model
        path = path.replace("{" + name + "}", value)
    user = run.user("auth")
    kwargs: dict[str, Any] = {}
    media, example = op.request_example()
    if media == "multipart/form-data":
        kwargs["files"] = {"file": ("hello.wav", tiny_wav(), "audio/wav")}
        kwargs["data"] = {"user": user}
    elif media is not None:
        body = dict(example) if isinstance(example, dict) else {}
        if "user" in body:
            body["user"] = user
        if op.tag == "chat-completions":
            body["model"] = options.chat_completions_model
        kwargs["json_body"] = {} if app_write(op) else body
    if op.method == "GET":
        params = {"user": user}
        if op.operation_id == "listMessages":
            params["conversation_id"] = str(uuid.uuid4())
        kwargs["params"] = params
    return {"method": op.method, "path": path, **kwargs}


KINDS = {
    "missing_key": lambda key: None,
    "malformed_key": lambda key: key,  # the key without the Bearer scheme
    "wrong_key": lambda key: (
        "Bearer " + (key[:4] if key.startswith("app-") else "") + "wrong-" + secrets.token_hex(8)
    ),
}


def _auth_case(kind: str, op: contract.Operation, request: pytest.FixtureRequest) -> None:
    client: Client = request.getfixturevalue(CLIENT_FIXTURE.get(op.tag, "client"))
    skip_unless_offered(client, op)  # no route at all: there is no key check to judge
    options: Options = request.getfixturevalue("options")
    run: Run = request.getfixturevalue("run")
    req = request_for(op, options, run)
    ex = client.call(req.pop("method"), req.pop("path"), auth=KINDS[kind](client.api_key), **req)
    body = ex.json()
    if ex.status == 200 and isinstance(body, dict) and isinstance(body.get("conversation_id"), str):
        run.remember(run.user("auth"), body["conversation_id"])  # auth was ignored: still clean up
    if ex.status in (200, 201) and op.operation_id == "createAnnotation" and isinstance(body, dict):
        run.remember_annotation(str(body.get("id") or ""))  # created despite the empty body: delete it
    expect_error(ex, op, 401)


@check("auth.missing_key", "no Authorization header: 401 and the error envelope")
@pytest.mark.parametrize("op", OPS, ids=[o.operation_id for o in OPS])
def test_missing_key(op: contract.Operation, request: pytest.FixtureRequest) -> None:
    _auth_case("missing_key", op, request)


@check("auth.malformed_key", "a key without the Bearer scheme: 401 and the error envelope")
@pytest.mark.parametrize("op", OPS, ids=[o.operation_id for o in OPS])
def test_malformed_key(op: contract.Operation, request: pytest.FixtureRequest) -> None:
    _auth_case("malformed_key", op, request)


@check("auth.wrong_key", "an unknown key: 401 and the error envelope")
@pytest.mark.parametrize("op", OPS, ids=[o.operation_id for o in OPS])
def test_wrong_key(op: contract.Operation, request: pytest.FixtureRequest) -> None:
    _auth_case("wrong_key", op, request)
