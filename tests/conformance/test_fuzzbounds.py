"""Fuzz-only bounds (`x-fuzz-bound`) are set aside when judging negative data; real bounds are not."""

from __future__ import annotations

import uuid

from conformance import contract
from conformance.fuzzbounds import fuzz_bounds, valid_without_fuzz_bounds, without_fuzz_bounds

CHAT = {"inputs": {}, "query": "hi", "response_mode": "blocking", "user": "u"}


def test_only_the_listed_keywords_go() -> None:
    schema = {"type": "string", "minLength": 1, "maxLength": 9, "x-fuzz-bound": ["maxLength"]}
    assert without_fuzz_bounds({"a": [schema]}) == {"a": [{"type": "string", "minLength": 1}]}


def test_the_contract_marks_the_fuzzing_ranges_it_invented() -> None:
    contract.use_era("current")
    marked = dict(fuzz_bounds(contract.document()))
    assert marked["/components/schemas/UserId"] == ["maxLength", "type"]
    assert marked["/components/schemas/UserIdQuery"] == ["minLength", "maxLength"]
    assert marked["/components/schemas/ChatMessageRequest/properties/query"] == ["maxLength"]
    assert marked["/components/parameters/TaskId/schema"] == ["maxLength"]
    contract.use_era("2023")
    try:
        assert set(dict(fuzz_bounds(contract.document()))["/components/parameters/TaskId/schema"]) == {
            "maxLength",
            "format",
            "pattern",
        }
        assert valid_without_fuzz_bounds(
            "stopChatMessage", None, {"task_id": "not-a-uuid"}, {"user": "u"}, None
        )
    finally:
        contract.use_era("current")


def test_beyond_a_fuzz_bound_is_valid() -> None:
    contract.use_era("current")
    assert valid_without_fuzz_bounds("sendChatMessage", None, None, {**CHAT, "user": "u" * 300}, None)
    assert valid_without_fuzz_bounds("sendChatMessage", None, None, {**CHAT, "query": "q" * 20000}, None)
    assert valid_without_fuzz_bounds("listConversations", {"user": "u" * 300}, None, None, None)
    assert valid_without_fuzz_bounds("stopChatMessage", None, {"task_id": "t" * 300}, {"user": "u"}, None)


def test_real_bounds_stay() -> None:
    contract.use_era("current")
    assert not valid_without_fuzz_bounds("sendChatMessage", None, None, {**CHAT, "user": ""}, None)
    assert not valid_without_fuzz_bounds("sendChatMessage", None, None, {**CHAT, "response_mode": "x"}, None)
    assert not valid_without_fuzz_bounds("sendChatMessage", None, None, {"query": "hi", "user": "u"}, None)
    assert not valid_without_fuzz_bounds("listConversations", {"limit": 101}, None, None, None)
    assert not valid_without_fuzz_bounds("sendChatMessage", None, None, None, None)  # a body is required
    assert not valid_without_fuzz_bounds("listConversations", {"limit": "101"}, None, None, None)  # as sent
    assert not valid_without_fuzz_bounds("listAnnotations", {"page": "0"}, None, None, None)


def test_bounds_real_servers_do_not_keep() -> None:
    """Measured on Dify 1.12.1 (SPEC_NOTES S15): a coerced `user`, an unbounded `page`, `user=`."""
    contract.use_era("current")
    assert valid_without_fuzz_bounds("sendChatMessage", None, None, {**CHAT, "user": 42}, None)
    assert valid_without_fuzz_bounds("listAnnotations", {"page": "2147483648"}, None, None, None)
    assert valid_without_fuzz_bounds("listAppFeedbacks", {"page": 2147483648}, None, None, None)
    assert valid_without_fuzz_bounds("listConversations", {"user": ""}, None, None, None)
    contract.use_era("2023")
    try:
        assert valid_without_fuzz_bounds(
            "listMessages", {"user": "", "conversation_id": str(uuid.uuid4())}, None, None, None
        )
    finally:
        contract.use_era("current")


def test_a_form_is_judged_as_the_text_it_carries() -> None:
    """A number or null in a multipart field arrives as its text: no server can refuse it as a type."""
    wire = {"file": 3.1539192230549375e144, "user": None}
    assert valid_without_fuzz_bounds("uploadFile", None, None, wire, "multipart/form-data")
    form = "multipart/form-data"
    assert valid_without_fuzz_bounds("audioToText", None, None, {"file": 7, "user": "u"}, form)
    assert not valid_without_fuzz_bounds("uploadFile", None, None, {"user": "u"}, form)  # no file part
    # JSON keeps its types
    assert not valid_without_fuzz_bounds("sendChatMessage", None, None, {**CHAT, "query": 5}, None)
