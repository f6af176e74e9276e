"""What the app says about itself (/info, /meta, /site) and its end users (/end-users/{id})."""

from __future__ import annotations

import json
from typing import Any

from tests.conformance.gallery.helpers import App, Variant
from tests.conformance.rewrite import chain, wrap

JSON = [("Content-Type", "application/json")]


def app_info_malformed(app: App) -> App:
    """/info names a mode no chat app has, /meta lists its icons, /site forgets its title."""

    def info(env: Any, code: int, body: Any) -> tuple[int, Any]:
        return code, {**body, "mode": "workflow"} if isinstance(body, dict) else body

    def meta(env: Any, code: int, body: Any) -> tuple[int, Any]:
        return code, {"tool_icons": []}

    def site(env: Any, code: int, body: Any) -> tuple[int, Any]:
        return code, {k: v for k, v in body.items() if k != "title"} if isinstance(body, dict) else body

    return chain(
        app,
        lambda a: wrap(a, path=r"/v1/info$", json_response=info),
        lambda a: wrap(a, path=r"/v1/meta$", json_response=meta),
        lambda a: wrap(a, path=r"/v1/site$", json_response=site),
    )


def end_users_any_id(app: App) -> App:
    """Every id is answered as the default end user: no lookup at all."""

    def anyone(env: Any) -> tuple[int, list[tuple[str, str]], bytes]:
        user = {
            "id": env["PATH_INFO"].rsplit("/", 1)[-1],
            "tenant_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "type": "service_api",
            "external_user_id": "DEFAULT-USER",
            "is_anonymous": True,
            "session_id": "DEFAULT-USER",
            "created_at": "2024-01-16T08:16:41Z",
            "updated_at": "2024-01-16T08:16:41Z",
        }
        return 200, JSON, json.dumps(user).encode()

    return wrap(app, path=r"/v1/end-users/[^/]+$", intercept=anyone)


def site_forbidden(app: App) -> App:
    """Legal: an app without a web app answers /site with 403 forbidden."""
    body = json.dumps({"code": "forbidden", "message": "Forbidden.", "status": 403}).encode()
    return wrap(app, path=r"/v1/site$", intercept=lambda env: (403, JSON, body))


BROKEN: list[Variant] = [
    Variant(
        "app_info_malformed",
        "/info with a workflow mode, /meta icons as a list, /site without a title",
        "appinfo",
        app_info_malformed,
        ("appinfo.info", "appinfo.meta", "appinfo.site"),
    ),
    Variant(
        "end_users_any_id",
        "every end-user id answered as the default user",
        "appinfo",
        end_users_any_id,
        ("appinfo.end_user", "appinfo.unknown_end_user"),
    ),
]

GOOD: list[Variant] = [
    Variant("site_forbidden", "an app without a web app: /site is 403", "appinfo", site_forbidden),
]
