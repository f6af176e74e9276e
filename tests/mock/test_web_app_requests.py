"""What Dify's own web app (langgenius/webapp-conversation) sends is accepted, as real Dify accepts it.

Issue 18 ran the unmodified web app against the mock with all four app keys: everything worked but
these five requests, which the mock refused where Dify 1.12.1 does not (SPEC_NOTES K7).
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from tests.mock.conftest import AUTH, chat
from tests.mock.contract_check import CheckedClient
from tests.mock.test_files import history, upload


def test_a_local_file_with_an_empty_url_is_accepted(client: CheckedClient) -> None:
    """The web app sends `"url": ""` beside `upload_file_id`; Dify ignores `url` for local files."""
    file_id = upload(client).json["id"]
    sent = chat(
        client,
        files=[{"type": "image", "transfer_method": "local_file", "url": "", "upload_file_id": file_id}],
    )
    assert sent.status_code == 200, sent.json
    assert history(client, sent.json["conversation_id"])[-1]["message_files"][0]["upload_file_id"] == file_id
    remote = {"type": "image", "transfer_method": "remote_url", "url": "https://example.com/a.png"}
    assert chat(client, files=[{**remote, "upload_file_id": ""}]).status_code == 200  # and the other way
    bad = chat(client, files=[{**remote, "url": "ftp://example.com/a.png"}])
    assert bad.status_code == 400 and bad.json["message"].startswith("files.0")  # remote URLs still http(s)
    no_id = {"type": "image", "transfer_method": "local_file", "url": ""}
    assert chat(client, files=[no_id]).status_code == 400  # a local file still needs its upload_file_id


@pytest.mark.parametrize(
    "value", [{"a": 1}, [1, 2], None, 3, True], ids=["object", "array", "null", "number", "bool"]
)
def test_an_undeclared_input_of_any_type_is_dropped(client: CheckedClient, value: Any) -> None:
    """SPEC_NOTES E5: real Dify reads only the form's variables, whatever the others hold."""
    sent = chat(client, user="web-app", inputs={"book": "Heat", "extra": value})
    assert sent.status_code == 200, sent.json
    conv = client.get("/v1/conversations?user=web-app", headers=AUTH).json["data"][0]
    assert "extra" not in conv["inputs"]


def test_a_declared_input_of_the_wrong_type_is_still_refused(client: CheckedClient) -> None:
    resp = chat(client, inputs={"book": {"title": "Heat"}})
    assert resp.status_code == 400 and resp.json["message"].startswith("inputs.book:")


def test_an_empty_user_is_the_default_end_user_today(client: CheckedClient) -> None:
    """`user=` means the default end user on GET /conversations, GET /messages, POST /audio-to-text,
    as an absent `user` does (today's era only; 2023 keeps its rules)."""
    default = chat(client, user="DEFAULT-USER").json
    conversations = client.get("/v1/conversations?user=", headers=AUTH)
    assert conversations.status_code == 200
    assert [c["id"] for c in conversations.json["data"]] == [default["conversation_id"]]
    messages = client.get(f"/v1/messages?conversation_id={default['conversation_id']}&user=", headers=AUTH)
    assert messages.status_code == 200 and messages.json["data"][0]["id"] == default["id"]
    audio = client.post(
        "/v1/audio-to-text",
        headers=AUTH,
        data={"file": (io.BytesIO(b"RIFF" + b"\0" * 60), "voice.wav", "audio/wav"), "user": ""},
    )
    assert audio.status_code == 200, audio.json


def test_an_empty_user_is_refused_in_2023(make_app) -> None:
    client = CheckedClient(make_app(era="2023"))
    resp = client.get("/v1/conversations?user=", headers=AUTH)
    assert resp.status_code == 400 and resp.json["code"] == "invalid_param"


def test_audio_is_judged_by_its_mime_type_not_its_name(client: CheckedClient) -> None:
    """The web app's recorder uploads `voice.bin` as `audio/wav`: Dify looks at the MIME type only."""
    resp = client.post(
        "/v1/audio-to-text",
        headers=AUTH,
        data={"file": (io.BytesIO(b"RIFF" + b"\0" * 60), "voice.bin", "audio/wav"), "user": "u1"},
    )
    assert resp.status_code == 200, resp.json


def test_a_rename_without_an_id_matches_no_route(client: CheckedClient) -> None:
    """`POST /conversations//name`: no route matches (404, no `Allow: DELETE` of a merged path)."""
    resp = client.post("/v1/conversations//name", headers=AUTH, json={"name": "x", "user": "u1"})
    assert resp.status_code == 404 and "Allow" not in resp.headers
