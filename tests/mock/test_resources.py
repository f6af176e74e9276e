"""Feedback, rename, delete, parameters, audio-to-text, and isolation between users and keys."""

from __future__ import annotations

import hashlib
import io
import wave
from pathlib import Path

import pytest
import yaml

from tests.mock.conftest import AUTH, SEEDED_CONVERSATION, SEEDED_USER, chat, fixtures_with
from tests.mock.contract_check import CheckedClient

ROOT = Path(__file__).resolve().parents[2]
AUDIO = ROOT / "fixtures" / "audio"
TRANSCRIPTIONS = yaml.safe_load((AUDIO / "transcriptions.yaml").read_text())
APP = yaml.safe_load((ROOT / "fixtures" / "app.yaml").read_text())
LIKED = "8c0fbed8-e2f9-49ff-9f0e-15a35bdd0e25"
UNRATED = "059f87d9-15c0-473a-870c-fde95cdcc1e4"
UNKNOWN = "3f1b8a1e-0000-4000-8000-000000000000"


def _history(client, conv=SEEDED_CONVERSATION, user=SEEDED_USER):
    return client.get(f"/v1/messages?conversation_id={conv}&user={user}", headers=AUTH).json["data"]


def _feedback(client, message_id, rating, user=SEEDED_USER, **extra):
    return client.post(
        f"/v1/messages/{message_id}/feedbacks", headers=AUTH, json={"rating": rating, "user": user, **extra}
    )


def test_feedback_like_dislike_undo(client) -> None:
    assert _feedback(client, UNRATED, "dislike", content="meh").json == {"result": "success"}
    assert _history(client)[1]["feedback"] == {"rating": "dislike"}
    assert _feedback(client, UNRATED, "like").status_code == 200
    assert _history(client)[1]["feedback"] == {"rating": "like"}
    assert _feedback(client, UNRATED, None).status_code == 200
    assert _history(client)[1]["feedback"] is None
    again = _feedback(client, UNRATED, None)
    assert again.status_code == 400 and again.json["code"] == "invalid_param"


def test_feedback_errors(client) -> None:
    resp = _feedback(client, LIKED, "like", user="intruder")
    assert resp.status_code == 404 and resp.json["message"] == "Message Not Exists."
    assert _feedback(client, UNKNOWN, "like").status_code == 404
    assert _feedback(client, "not-a-uuid", "like").status_code == 404
    bad = _feedback(client, LIKED, "love")
    assert bad.status_code == 400 and bad.json["message"].startswith("rating:")
    assert _history(client)[0]["feedback"] == {"rating": "like"}  # nothing changed


def test_feedback_without_rating_revokes_today_and_is_refused_in_2023(make_app) -> None:
    body = {"user": SEEDED_USER, "content": None}
    old = CheckedClient(make_app(era="2023"))
    missing = old.post(f"/v1/messages/{LIKED}/feedbacks", headers=AUTH, json={"user": SEEDED_USER})
    assert missing.status_code == 400 and missing.json["message"].startswith("rating:")
    assert _history(old)[0]["feedback"] == {"rating": "like"}
    today = CheckedClient(make_app())
    assert today.post(f"/v1/messages/{LIKED}/feedbacks", headers=AUTH, json=body).json == {
        "result": "success"
    }
    assert _history(today)[0]["feedback"] is None


def test_rename_by_name_and_auto_generate(client) -> None:
    url = f"/v1/conversations/{SEEDED_CONVERSATION}/name"
    resp = client.post(url, headers=AUTH, json={"name": "Films of 1988", "user": SEEDED_USER})
    assert resp.json["name"] == "Films of 1988" and resp.json["id"] == SEEDED_CONVERSATION
    listed = client.get(f"/v1/conversations?user={SEEDED_USER}&limit=100", headers=AUTH).json["data"]
    assert {c["id"]: c["name"] for c in listed}[SEEDED_CONVERSATION] == "Films of 1988"
    auto = client.post(url, headers=AUTH, json={"auto_generate": True, "user": SEEDED_USER})
    assert auto.json["name"] == "Which movie is the best?"  # from the first query


@pytest.mark.parametrize(
    "body",
    [
        {"user": SEEDED_USER},
        {"name": "", "user": SEEDED_USER},
        {"name": "", "auto_generate": False, "user": "x"},
    ],
)
def test_rename_without_name_is_400(client, body) -> None:
    resp = client.post(f"/v1/conversations/{SEEDED_CONVERSATION}/name", headers=AUTH, json=body)
    assert resp.status_code == 400 and resp.json["message"].startswith("name:")


def test_rename_foreign_or_unknown_is_404(client) -> None:
    for conv, user in ((SEEDED_CONVERSATION, "intruder"), (UNKNOWN, SEEDED_USER)):
        resp = client.post(f"/v1/conversations/{conv}/name", headers=AUTH, json={"name": "x", "user": user})
        assert resp.status_code == 404 and resp.json["message"] == "Conversation Not Exists."


def test_delete_then_gone_everywhere(client) -> None:
    url = f"/v1/conversations/{SEEDED_CONVERSATION}"
    foreign = client.delete(url, headers=AUTH, json={"user": "intruder"})
    assert foreign.status_code == 404
    assert len(_history(client)) == 2  # the foreign delete deleted nothing
    resp = client.delete(url, headers=AUTH, json={"user": SEEDED_USER})
    assert resp.status_code == 204 and resp.get_data() == b""
    listed = client.get(f"/v1/conversations?user={SEEDED_USER}&limit=100", headers=AUTH).json["data"]
    assert SEEDED_CONVERSATION not in {c["id"] for c in listed}
    gone = client.get(f"/v1/messages?conversation_id={SEEDED_CONVERSATION}&user={SEEDED_USER}", headers=AUTH)
    assert gone.status_code == 404
    assert chat(client, "hello", user=SEEDED_USER, conversation_id=SEEDED_CONVERSATION).status_code == 404
    assert (
        client.post(f"{url}/name", headers=AUTH, json={"name": "x", "user": SEEDED_USER}).status_code == 404
    )
    assert client.delete(url, headers=AUTH, json={"user": SEEDED_USER}).status_code == 404
    assert _feedback(client, LIKED, "like").status_code == 404
    assert client.delete(url, headers=AUTH).status_code == 400  # body {user} is required


def test_parameters_are_the_app_fixture(client) -> None:
    resp = client.get("/v1/parameters?user=abc-123", headers=AUTH)
    assert resp.json == APP["parameters"]
    assert client.get("/v1/parameters", headers=AUTH).json == APP["parameters"]


def test_keys_are_separate_apps(make_app) -> None:
    from tests.mock.contract_check import CheckedClient

    client = CheckedClient(make_app(api_keys=["app-mock-dev-key", "app-second"]))
    second = {"Authorization": "Bearer app-second"}
    assert client.get(f"/v1/conversations?user={SEEDED_USER}", headers=second).json["data"] == []
    url = f"/v1/messages?conversation_id={SEEDED_CONVERSATION}&user={SEEDED_USER}"
    assert client.get(url, headers=second).status_code == 404
    mine = chat(client, "hello", user=SEEDED_USER, headers=second).json
    listed = client.get(f"/v1/conversations?user={SEEDED_USER}", headers=second).json["data"]
    assert [c["id"] for c in listed] == [mine["conversation_id"]]
    primary = client.get(f"/v1/conversations?user={SEEDED_USER}&limit=100", headers=AUTH).json["data"]
    assert mine["conversation_id"] not in {c["id"] for c in primary}


# ---------- audio ----------


def _upload(client, data: bytes, filename: str = "a.wav", content_type: str = "audio/wav", **form):
    payload = {"file": (io.BytesIO(data), filename, content_type), **form}
    return client.post("/v1/audio-to-text", headers=AUTH, data=payload, content_type="multipart/form-data")


def _wav(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return buf.getvalue()


@pytest.mark.parametrize("digest", sorted(TRANSCRIPTIONS["transcriptions"]))
def test_known_audio_is_transcribed(client, digest) -> None:
    entry = TRANSCRIPTIONS["transcriptions"][digest]
    data = (AUDIO / entry["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest
    resp = _upload(client, data, entry["file"], entry["content_type"], user="abc-123")
    assert resp.json == {"text": entry["text"]}


def test_unknown_audio_rules(client) -> None:
    assert _upload(client, _wav(0.9)).json == {"text": "Unrecognised audio, 0.9 seconds long."}
    assert _upload(client, b"ID3" + b"\x00" * 97, "a.mp3", "audio/mp3").json == {
        "text": "Unrecognised audio, 100 bytes."
    }


@pytest.mark.parametrize(
    ("era", "filename", "content_type", "status"),
    [
        ("current", "a.wav", "audio/wav", 200),
        ("current", "a.mp3", "audio/mp3", 200),
        ("current", "a.amr", "audio/amr", 200),
        ("current", "a.mp3", "application/octet-stream", 415),  # Dify judges the MIME type alone
        ("current", "a.mp3", "audio/mpeg", 415),  # today's servers refuse audio/mpeg
        ("current", "a.webm", "audio/webm", 415),
        ("current", "a.webm", "application/octet-stream", 415),
        ("2023", "a.wav", "audio/wav", 200),
        ("2023", "a.mp3", "application/octet-stream", 415),
        ("2023", "a.mp3", "audio/mpeg", 200),
        ("2023", "a.webm", "audio/webm", 200),
        ("2023", "a.m4a", "audio/x-m4a", 200),
        ("2023", "a.amr", "audio/amr", 415),
        ("current", "a.ogg", "audio/ogg", 415),
        ("current", "a.txt", "text/plain", 415),
        ("current", "a.ogg", "application/octet-stream", 415),
        ("current", "a.exe", "audio/wav", 200),  # the file name is not judged (the web app's voice.bin)
        ("current", "voice.bin", "audio/wav", 200),
        ("current", "noext", "audio/mp3", 200),
        ("2023", "noext", "application/octet-stream", 415),
    ],
)
def test_audio_type_rules(make_app, era, filename, content_type, status) -> None:
    client = CheckedClient(make_app(era=era))
    resp = _upload(client, _wav(0.1), filename, content_type)
    assert resp.status_code == status
    if status == 415:
        assert resp.json["code"] == "unsupported_audio_type"


@pytest.mark.parametrize(("era", "megabytes"), [("current", 30), ("2023", 15)])
def test_audio_size_limit_of_each_era(make_app, era, megabytes) -> None:
    client = CheckedClient(make_app(era=era))
    limit = megabytes * 1024 * 1024
    assert _upload(client, b"\x00" * limit, "a.mp3", "audio/mp3").status_code == 200
    resp = _upload(client, b"\x00" * (limit + 1), "a.mp3", "audio/mp3")
    assert resp.status_code == 413 and resp.json["code"] == "audio_too_large"
    assert f"{megabytes} MB" in resp.json["message"]


@pytest.mark.parametrize(
    "request_body",
    [
        {"data": {"user": "u"}, "content_type": "multipart/form-data"},
        {"data": {"other": (io.BytesIO(b"x"), "x.txt", "text/plain"), "user": "u"}},  # another part only
        {"data": {"user": "u"}, "content_type": "application/x-www-form-urlencoded"},
        {"json": {"file": "x"}},
    ],
    ids=["multipart", "other-part", "urlencoded", "json"],
)
def test_audio_without_a_file_part_is_a_bad_request_key_error(client, request_body) -> None:
    """Dify reads `request.files["file"]`: Flask's KeyError, whatever the content type (R-cap
    chatflow/061-audio_to_text_missing_file.json, chatflow-features-on/006)."""
    resp = client.post("/v1/audio-to-text", headers=AUTH, **request_body)
    assert (resp.status_code, resp.json["code"]) == (400, "bad_request_key_error"), resp.json


def _switched_off(feature: str, tmp_path: Path) -> Path:
    def off(doc: dict) -> None:
        doc["parameters"][feature] = {"enabled": False}

    return fixtures_with(tmp_path, off)


def test_speech_to_text_off_refuses_before_the_file_is_looked_at(make_app, tmp_path: Path) -> None:
    """chatflow/060-audio_to_text.json: with speech to text off, 400 invalid_param whatever the file
    (a wrong type or an oversized one too); without a file part the KeyError still comes first."""
    client = CheckedClient(make_app(fixtures_dir=str(_switched_off("speech_to_text", tmp_path))))
    assert client.get("/v1/parameters", headers=AUTH).json["speech_to_text"] == {"enabled": False}
    for data, name, content_type in ((_wav(0.2), "a.wav", "audio/wav"), (b"text", "a.txt", "text/plain")):
        resp = _upload(client, data, name, content_type)
        assert resp.status_code == 400 and resp.json == {
            "code": "invalid_param",
            "message": "Speech to text is not enabled",
            "status": 400,
        }
    form = {"data": {"user": "u"}, "content_type": "multipart/form-data"}
    assert client.post("/v1/audio-to-text", headers=AUTH, **form).json["code"] == "bad_request_key_error"


def test_text_to_speech_off_refuses(make_app, tmp_path: Path) -> None:
    """chatflow/062-text_to_audio.json, 063: with text to speech off, 400 invalid_param "TTS is not
    enabled" for a text and for a message; a request with neither is still "Text is required"."""
    client = CheckedClient(make_app(fixtures_dir=str(_switched_off("text_to_speech", tmp_path))))
    message = chat(client, "Which movie is the best?").json["id"]
    for body in ({"text": "Yippee ki yay.", "user": "u1"}, {"message_id": message, "user": "u1"}):
        resp = client.post("/v1/text-to-audio", headers=AUTH, json=body)
        assert resp.status_code == 400 and resp.json["message"] == "TTS is not enabled", resp.json
    assert client.post("/v1/text-to-audio", headers=AUTH, json={"user": "u1"}).json["code"] == "invalid_param"


def test_the_default_apps_keep_speech_on(client) -> None:
    """A frontend developer's apps answer audio: the default apps have both switches on."""
    params = client.get("/v1/parameters", headers=AUTH).json
    assert params["speech_to_text"]["enabled"] and params["text_to_speech"]["enabled"]
    assert _upload(client, _wav(0.2)).status_code == 200
    speech = client.post("/v1/text-to-audio", headers=AUTH, json={"text": "hi", "user": "u1"})
    assert speech.status_code == 200


def test_body_over_the_hard_cap_is_still_audio_too_large(make_app) -> None:
    from tests.mock.contract_check import CheckedClient

    client = CheckedClient(make_app(max_upload_mb=1))
    resp = _upload(client, b"\x00" * (2 * 1024 * 1024), "a.mp3", "audio/mpeg")
    assert resp.status_code == 413 and resp.json["code"] == "audio_too_large"


def test_document_response_form_on_request(client) -> None:
    doc = {**AUTH, "X-Mock-Response-Form": "document"}
    url = f"/v1/conversations/{SEEDED_CONVERSATION}"
    renamed = client.post(f"{url}/name", headers=doc, json={"name": "Doc form", "user": SEEDED_USER})
    assert renamed.json == {"result": "success"}
    listed = client.get(f"/v1/conversations?user={SEEDED_USER}&limit=100", headers=AUTH).json["data"]
    assert {c["id"]: c["name"] for c in listed}[SEEDED_CONVERSATION] == "Doc form"
    bad = client.delete(url, headers={**AUTH, "X-Mock-Response-Form": "legacy"}, json={"user": SEEDED_USER})
    assert bad.status_code == 400
    deleted = client.delete(url, headers=doc, json={"user": SEEDED_USER})
    assert deleted.status_code == 200 and deleted.json == {"result": "success"}
    assert client.delete(url, headers=doc, json={"user": SEEDED_USER}).status_code == 404
