"""auth: a missing, malformed or wrong key gets 401 with the surface's error envelope, on every operation."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest

from conformance import contract
from conformance.checking import check, expect_error
from conformance.http import Client
from conformance.options import Options
from conformance.run import Run
from conformance.samples import tiny_wav

OPS = contract.operations()
CLIENT_FIXTURE = {
    "chat-app": "client",
    "conversational": "conversational_client",
    "chat-completions": "completions_client",
}


def request_for(op: contract.Operation, options: Options, run: Run) -> dict[str, Any]:
    """A well-formed request for `op` (path from the contract, body from its example)."""
    path = op.path
    for name in op.path_params():
        value = str(uuid.uuid4())
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
        kwargs["json_body"] = body
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
    options: Options = request.getfixturevalue("options")
    run: Run = request.getfixturevalue("run")
    req = request_for(op, options, run)
    ex = client.call(req.pop("method"), req.pop("path"), auth=KINDS[kind](client.api_key), **req)
    body = ex.json()
    if ex.status == 200 and isinstance(body, dict) and isinstance(body.get("conversation_id"), str):
        run.remember(run.user("auth"), body["conversation_id"])  # auth was ignored: still clean up
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
