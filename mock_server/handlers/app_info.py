"""What the app tells its clients about itself: parameters, info, meta and web app settings.

Each key's app has its own (fixtures/apps/<name>.yaml over the reference app of fixtures/app.yaml);
only `annotation_reply` of the parameters follows the setting that POST
/apps/annotation-reply/{action} changes.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from mock_server.apps import merged
from mock_server.handlers.base import Call, json_response

INFO_FIELDS = ("name", "description", "tags", "mode", "author_name")


def get_parameters(call: Call) -> Response:
    parameters = call.app.parameters
    setting = call.state.reply_setting(call.db, call.key)
    if setting is not None and "annotation_reply" in parameters:
        parameters = {**parameters, "annotation_reply": annotation_reply(setting)}
    return json_response(parameters)


def annotation_reply(setting: Any) -> dict[str, Any]:
    """`annotation_reply` of the parameters as real servers show a stored setting."""
    if not setting["enabled"]:
        return {"enabled": False}
    return {
        "enabled": True,
        "score_threshold": setting["score_threshold"],
        "embedding_model": {
            "embedding_provider_name": setting["provider"],
            "embedding_model_name": setting["model"],
        },
    }


def app_data(call: Call, name: str) -> dict[str, Any]:
    """Block `name` of the caller's app file laid over the reference app's (fixtures/app.yaml)."""
    return merged(call.state.fixtures.raw_app.get(name) or {}, call.app.raw.get(name) or {})


def get_app_info(call: Call) -> Response:
    app = app_data(call, "app")
    info = {name: app.get(name) for name in INFO_FIELDS}
    info["name"] = call.app.title
    info["tags"] = list(info["tags"] or [])
    info["mode"] = call.app.mode
    return json_response(info)


def get_app_meta(call: Call) -> Response:
    return json_response({"tool_icons": app_data(call, "meta").get("tool_icons") or {}})


def get_app_site(call: Call) -> Response:
    site = app_data(call, "site")
    if not call.app.raw.get("site", {}).get("title"):
        site["title"] = call.app.title  # an app file that names no title: the app's name
    return json_response(site)


HANDLERS = {
    "getParameters": get_parameters,
    "getAppInfo": get_app_info,
    "getAppMeta": get_app_meta,
    "getAppSite": get_app_site,
}
