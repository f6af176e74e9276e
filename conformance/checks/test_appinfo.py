"""appinfo: what the app says about itself (GET /info, /meta, /site) and its end users (/end-users).

GET /end-users/{id} is not in every release (`x-not-in-every-release`): a server without the route
has its checks skipped as "not offered by this server" (conformance.offered).
"""

from __future__ import annotations

from conformance.chatapp import random_id
from conformance.checking import check, expect, expect_error, expect_json_body, expect_status
from conformance.contract import operation_or_skip, resolve
from conformance.http import Client
from conformance.offered import skip_unless_offered
from conformance.run import Run
from conformance.samples import tiny_png


@check(
    "appinfo.info",
    "GET /info answers the app's name, tags and a chat app mode",
    contract="getAppInfo 200: AppInfo, `mode` one of the Chat App modes (ChatAppMode)",
)
def test_info(client: Client) -> None:
    op = operation_or_skip("getAppInfo")
    ex = client.call("GET", "/info")
    expect_status(ex, 200)
    body = expect_json_body(ex, op)
    modes = resolve({"$ref": "#/components/schemas/ChatAppMode"}).get("enum") or []
    expect(body["mode"] in modes, f"mode {body['mode']!r} is not a Chat App mode ({modes})", ex)


@check("appinfo.meta", "GET /meta answers the tool icons", contract="getAppMeta 200: AppMeta ({tool_icons})")
def test_meta(client: Client) -> None:
    op = operation_or_skip("getAppMeta")
    ex = client.call("GET", "/meta")
    expect_status(ex, 200)
    expect_json_body(ex, op)


@check(
    "appinfo.site",
    "GET /site answers the web app settings (or 403 for an app without a web app)",
    contract="getAppSite: 200 AppSite, or 403 `forbidden` when the app has no site",
)
def test_site(client: Client) -> None:
    op = operation_or_skip("getAppSite")
    ex = client.call("GET", "/site")
    if ex.status == 403:
        expect_error(ex, op, 403, "forbidden")
        return
    expect_status(ex, (200, 403))
    expect_json_body(ex, op)


@check(
    "appinfo.end_user",
    "the end user behind an upload's `created_by` is the user that uploaded it",
    contract=(
        "getEndUser 200: the end user with `external_user_id` = the `user` of the requests that made it; "
        "`created_by` of an upload is its id"
    ),
)
def test_end_user(client: Client, run: Run) -> None:
    op = operation_or_skip("getEndUser")
    skip_unless_offered(client, op)
    upload_op = operation_or_skip("uploadFile")
    user = run.user("end-user")
    up = client.call(
        "POST",
        "/files/upload",
        files={"file": ("who.png", tiny_png(), "image/png")},
        data={"user": user},
        evidence_body={"file": "who.png (a tiny PNG)", "user": user},
    )
    expect_status(up, 201, expected="uploadFile 201 (to learn the uploader's end-user id)")
    created_by = expect_json_body(up, upload_op).get("created_by")
    expect(isinstance(created_by, str) and created_by, "the upload has no created_by to look up", up)
    ex = client.call("GET", f"/end-users/{created_by}")
    expect_status(ex, 200)
    body = expect_json_body(ex, op)
    expect(body["id"] == created_by, f"asked for end user {created_by}, got {body['id']!r}", ex)
    expect(
        body.get("external_user_id") == user,
        f"external_user_id {body.get('external_user_id')!r}, the uploader was {user!r}",
        up,
        ex,
    )


@check(
    "appinfo.unknown_end_user",
    "an id that is no end user of the app: 404",
    contract="getEndUser: an unknown id is 404 `end_user_not_found`",
)
def test_unknown_end_user(client: Client) -> None:
    op = operation_or_skip("getEndUser")
    skip_unless_offered(client, op)
    expect_error(client.call("GET", f"/end-users/{random_id()}"), op, 404, "end_user_not_found")
