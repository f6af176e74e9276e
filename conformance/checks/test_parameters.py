"""parameters: GET /parameters matches the contract and declares a usable input form.

Whether chat enforces the declared form is judged by chat.input_required, chat.input_select_options
and chat.input_max_length, which read the form from this endpoint.
"""

from __future__ import annotations

from conformance.checking import check, expect, expect_json_body, expect_status
from conformance.contract import operation
from conformance.http import Client
from conformance.run import Run

PARAMS = operation("getParameters")


@check(
    "parameters.shape",
    "GET /parameters answers the app's parameters as the contract describes",
    contract=(
        "getParameters 200: application/json matching AppParameters (opening statement, suggested "
        "questions, feature switches, `user_input_form`)"
    ),
)
def test_shape(client: Client, run: Run) -> None:
    ex = client.call("GET", "/parameters", params={"user": run.user("params")})
    expect_status(ex, 200)
    expect_json_body(ex, PARAMS)


@check(
    "parameters.form_variables",
    "form variables are unique and selects have distinct options",
    contract=(
        "getParameters: `user_input_form` declares the variables `inputs` must satisfy, each once, "
        "as a one-key object naming its control type (a Select's options distinct)"
    ),
)
def test_form_variables(client: Client, run: Run) -> None:
    ex = client.call("GET", "/parameters", params={"user": run.user("params")})
    expect_status(ex, 200)
    body = expect_json_body(ex, PARAMS)
    names = [next(iter(item.values())).get("variable") for item in body["user_input_form"]]
    expect(len(names) == len(set(names)), f"duplicate variables in user_input_form: {names}", ex)
    for item in body["user_input_form"]:
        kind, control = next(iter(item.items()))
        if kind == "select":
            options = control.get("options", [])
            expect(len(options) == len(set(options)), f"select {control.get('variable')} repeats options", ex)
            default = control.get("default")
            expect(
                default in (None, "") or default in options,
                f"select {control.get('variable')} default {default!r} is not one of its options",
                ex,
            )
