"""The incremental SSE parser follows the WHATWG rules whatever the line endings and write boundaries."""

from __future__ import annotations

import json

import pytest

from conformance.sse import SseParser, parse

STREAM = (
    b": a comment first\n"
    b'data: {"event":"message","answer":"Hi"}\n\n'
    b"event: ping\n\n"
    b"data: line one\ndata: line two\n\n"
    b"id: 7\nretry: 1500\ndata:no space\n\n"
    b"data: \xc3\xa9t\xc3\xa9 \xe2\x9c\x93\n\n"
    b'data: {"event":"message_end"}\n\n'
)
EXPECTED = [
    {"data": '{"event":"message","answer":"Hi"}'},
    {"event": "ping"},
    {"data": "line one\nline two"},
    {"data": "no space", "id": "7", "retry": 1500},
    {"data": "\u00e9t\u00e9 \u2713", "id": "7"},
    {"data": '{"event":"message_end"}', "id": "7"},
]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings(newline: bytes) -> None:
    assert [e.item() for e in parse(STREAM.replace(b"\n", newline))] == EXPECTED


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_split_at_every_byte(newline: bytes) -> None:
    raw = STREAM.replace(b"\n", newline)
    for cut in range(1, len(raw)):
        parser = SseParser()
        parser.feed(raw[:cut])
        parser.feed(raw[cut:])
        assert [e.item() for e in parser.events] == EXPECTED, f"cut at {cut}"


def test_one_byte_at_a_time_reports_events_as_soon_as_complete() -> None:
    parser = SseParser()
    done_at = []
    for i in range(len(STREAM)):
        if parser.feed(STREAM[i : i + 1], now=float(i)):
            done_at.append(i)
    assert len(done_at) == len(EXPECTED)
    assert [e.arrived for e in parser.events] == [float(i) for i in done_at]


def test_comments_are_counted_not_reported() -> None:
    parser = SseParser()
    parser.feed(b": keep-alive\n\n: again\n\ndata: x\n\n")
    assert parser.comments == 2
    assert [e.item() for e in parser.events] == [{"data": "x"}]


def test_frames_without_blank_line_merge_into_one_event() -> None:
    """The defect of a server that forgets the blank line: two JSON objects become one invalid event."""
    events = parse(b'data: {"a":1}\ndata: {"b":2}\n\n')
    assert len(events) == 1
    with pytest.raises(ValueError):
        json.loads(events[0].data or "")


def test_unterminated_last_frame_is_pending_not_dispatched() -> None:
    parser = SseParser()
    parser.feed(b"data: complete\n\ndata: cut off")
    assert [e.data for e in parser.events] == ["complete"]
    assert parser.pending


def test_bom_and_field_without_colon() -> None:
    events = parse(b"\xef\xbb\xbfdata\n\nevent: x\ndata: y\n\n")
    assert [e.item() for e in events] == [{"data": ""}, {"event": "x", "data": "y"}]


def test_invalid_retry_is_ignored() -> None:
    assert parse(b"retry: soon\ndata: x\n\n")[0].retry is None
