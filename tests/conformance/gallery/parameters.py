"""App parameters: GET /parameters (shape, form variables, slow answers)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from tests.conformance.gallery.helpers import (
    App,
    Variant,
)
from tests.conformance.rewrite import wrap


def hanging_parameters(app: App) -> App:
    def hang(env: Any) -> None:
        time.sleep(5)  # longer than the suite's read timeout: the check fails, the run goes on
        return None

    return wrap(app, path=r"/v1/parameters$", intercept=hang)


def select_default_outside_options(app: App) -> App:
    def odd_default(env: Any, code: int, body: Any) -> tuple[int, Any]:
        for item in body.get("user_input_form", []) if isinstance(body, dict) else []:
            if "select" in item:
                item["select"]["default"] = "shouting"
        return code, body

    return wrap(app, path=r"/v1/parameters$", json_response=odd_default)


def dribbling_parameters(app: App) -> App:
    """The body trickles out a byte at a time: no single read times out, the total deadline must."""

    def answer(env: Any, start_response: Any) -> Any:
        if not env.get("PATH_INFO", "").endswith("/v1/parameters"):
            return app(env, start_response)
        body = b"".join(app(env, lambda status, hdrs, exc_info=None: None))

        def trickle() -> Iterator[bytes]:
            for i in range(len(body)):
                time.sleep(0.5)
                yield body[i : i + 1]

        start_response("200 OK", [("Content-Type", "application/json")])
        return trickle()

    return answer


BROKEN: list[Variant] = [
    Variant(
        "hanging_parameters",
        "GET /parameters never answers in time",
        "parameters",
        hanging_parameters,
        ("parameters.shape",),
    ),
    Variant(
        "select_default_outside_options",
        "a Select default that is not an option",
        "parameters",
        select_default_outside_options,
        ("parameters.form_variables",),
    ),
    Variant(
        "dribbling_parameters",
        "GET /parameters trickles a byte every 0.5 s",
        "parameters",
        dribbling_parameters,
        ("parameters.shape",),
        ("--stream-timeout", "3"),
    ),
]

GOOD: list[Variant] = []
