"""annotations: the app's question-and-answer pairs (admin API) and the annotation reply setting.

Annotations are the app's data, not the run's: the checks create their own (questions carrying the
run id), delete each one they created (and the run deletes any left at the end), and never change
one they did not create. The reply check turns replies on only when they are off, and turns them
off again afterwards, so the app's setting is left as it was found.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from conformance.chatapp import ChatApp, random_id
from conformance.checking import check, expect, expect_error, expect_json_body, expect_status, fail
from conformance.contract import operation_or_skip
from conformance.http import Client, Exchange
from conformance.run import Run

REPLY_SETTING = {
    "score_threshold": 0.9,
    "embedding_provider_name": "openai",
    "embedding_model_name": "text-embedding-3-small",
}
JOB_WAIT_S = 20.0  # how long the suite follows an annotation reply job
LIST_PAGES = 5


def create(client: Client, run: Run, question: str, answer: str) -> tuple[Exchange, dict[str, Any]]:
    """Create an annotation of this run (remembered for the cleanup)."""
    op = operation_or_skip("createAnnotation")
    ex = client.call("POST", "/apps/annotations", json_body={"question": question, "answer": answer})
    body = ex.json()
    if isinstance(body, dict) and isinstance(body.get("id"), str) and ex.status in (200, 201):
        run.remember_annotation(body["id"])
    expect_status(ex, 201)
    return ex, expect_json_body(ex, op)


def delete(client: Client, run: Run, annotation_id: str) -> Exchange:
    ex = client.call("DELETE", f"/apps/annotations/{annotation_id}")
    if ex.status in (200, 204):
        run.forget_annotation(annotation_id)
    return ex


def find(client: Client, keyword: str) -> tuple[Exchange, list[dict[str, Any]]]:
    """Every annotation whose question or answer contains `keyword` (a few pages at most)."""
    op = operation_or_skip("listAnnotations")
    found: list[dict[str, Any]] = []
    for page in range(1, LIST_PAGES + 1):
        ex = client.call("GET", "/apps/annotations", params={"keyword": keyword, "page": page, "limit": 20})
        expect_status(ex, 200)
        body = expect_json_body(ex, op)
        found += body["data"]
        if len(found) >= body["total"] or not body["data"]:
            break
    return ex, found


_TOKENS = itertools.count(1)


@pytest.fixture
def token(run: Run) -> str:
    """A word no annotation has but this check's: the run id and a counter."""
    return f"conformance{run.run_id.replace('-', '')}n{next(_TOKENS)}"


@check(
    "annotations.create",
    "a new annotation is answered with its question, answer and no hits",
    contract="createAnnotation 201: the annotation, `hit_count` 0",
)
def test_create(client: Client, run: Run, token: str) -> None:
    ex, body = create(client, run, f"What is {token}?", f"{token} is a conformance check.")
    expect(body["question"] == f"What is {token}?", f"question answered as {body['question']!r}", ex)
    expect(body["answer"] == f"{token} is a conformance check.", f"answer answered as {body['answer']!r}", ex)
    expect(body["hit_count"] == 0, f"a new annotation with hit_count {body['hit_count']!r}", ex)
    delete(client, run, body["id"])


@check(
    "annotations.list",
    "created annotations are listed once each, found by keyword, pages within their limit",
    contract=(
        "listAnnotations: {data, has_more, limit, total, page}, `keyword` in question or answer; "
        "`total` counts every match"
    ),
)
def test_list(client: Client, run: Run, token: str) -> None:
    op = operation_or_skip("listAnnotations")
    made = [create(client, run, f"Question {i} of {token}?", f"Answer {i}.")[1]["id"] for i in range(3)]
    ex, found = find(client, token)
    ids = [a["id"] for a in found]
    expect(sorted(ids) == sorted(made), f"keyword {token!r} found {ids}, created {made}", ex)
    page = client.call("GET", "/apps/annotations", params={"keyword": token, "page": 1, "limit": 2})
    expect_status(page, 200)
    body = expect_json_body(page, op)
    expect(len(body["data"]) == 2 and body["limit"] == 2, f"page of limit 2 holds {len(body['data'])}", page)
    expect(body["total"] == 3, f"total {body['total']!r} for 3 matching annotations", page)
    expect(body["has_more"] is True, "has_more is false on page 1 of 2", page)
    for annotation_id in made:
        delete(client, run, annotation_id)


@pytest.fixture
def three(client: Client, run: Run, token: str) -> Any:
    """Three annotations made one after the other (ids in the order made), deleted afterwards."""
    made = [create(client, run, f"Question {i} of {token}?", f"Answer {i}.")[1]["id"] for i in range(3)]
    yield made
    for annotation_id in made:
        delete(client, run, annotation_id)


def _page(client: Client, token: str, page: int) -> tuple[Exchange, dict[str, Any]]:
    ex = client.call("GET", "/apps/annotations", params={"keyword": token, "page": page, "limit": 2})
    expect_status(ex, 200)
    return ex, expect_json_body(ex, operation_or_skip("listAnnotations"))


@check(
    "annotations.order",
    "annotations are listed newest first",
    contract="listAnnotations: newest first (the creation time, to the sub-second, as real servers store it)",
)
def test_order(client: Client, three: list[str], token: str) -> None:
    ex, found = find(client, token)
    ids = [a["id"] for a in found if a["id"] in three]
    newest_first = list(reversed(three))
    expect(
        ids == newest_first, f"listed in the order {ids}, made in the order {three} (newest first wanted)", ex
    )


@check(
    "annotations.pages",
    "page 2 continues page 1: no annotation twice, none left out",
    contract="listAnnotations: `page` n of `limit` items holds the items after the first (n-1)*limit",
)
def test_pages(client: Client, three: list[str], token: str) -> None:
    first, one = _page(client, token, 1)
    second, two = _page(client, token, 2)
    page1, page2 = [a["id"] for a in one["data"]], [a["id"] for a in two["data"]]
    expect(
        not set(page1) & set(page2),
        f"page 2 repeats {sorted(set(page1) & set(page2))} of page 1: `page` is ignored",
        first,
        second,
    )
    expect(
        sorted(page1 + page2) == sorted(three),
        f"pages 1 and 2 (limit 2) hold {page1} and {page2}; the 3 annotations are {three}",
        first,
        second,
    )


@check(
    "annotations.update",
    "an annotation's question and answer can be changed",
    contract="updateAnnotation 200: the annotation with the new question and answer; the list shows them",
)
def test_update(client: Client, run: Run, token: str) -> None:
    op = operation_or_skip("updateAnnotation")
    _, made = create(client, run, f"Old {token}?", "Old answer.")
    body = {"question": f"New {token}?", "answer": "New answer."}
    ex = client.call("PUT", f"/apps/annotations/{made['id']}", json_body=body)
    expect_status(ex, 200)
    changed = expect_json_body(ex, op)
    expect((changed["question"], changed["answer"]) == (body["question"], body["answer"]), "not changed", ex)
    listed, found = find(client, token)
    expect([a.get("answer") for a in found] == ["New answer."], f"the list shows {found}", ex, listed)
    delete(client, run, made["id"])


@check(
    "annotations.delete",
    "a deleted annotation is gone (204), and deleting it again is 404",
    contract="deleteAnnotation: 204, absent from the list afterwards; an unknown annotation 404",
)
def test_delete(client: Client, run: Run, token: str) -> None:
    op = operation_or_skip("deleteAnnotation")
    _, made = create(client, run, f"Gone {token}?", "Soon.")
    ex = delete(client, run, made["id"])
    expect_status(ex, 204)
    listed, found = find(client, token)
    expect(not found, "the deleted annotation is still listed", ex, listed)
    expect_error(delete(client, run, made["id"]), op, 404, "not_found")


@check(
    "annotations.unknown",
    "changing or deleting an annotation that does not exist: 404",
    contract="updateAnnotation / deleteAnnotation: an unknown annotation is 404 `not_found`",
)
def test_unknown(client: Client) -> None:
    op = operation_or_skip("updateAnnotation")
    ex = client.call("PUT", f"/apps/annotations/{random_id()}", json_body={"question": "q", "answer": "a"})
    expect_error(ex, op, 404, "not_found")
    expect_error(
        client.call("DELETE", f"/apps/annotations/{random_id()}"), operation_or_skip("deleteAnnotation"), 404
    )


@check(
    "annotations.unknown_job",
    "the status of a job that was never started: 400",
    contract=(
        "getAnnotationReplyStatus: a job this app did not start is 400 `invalid_param` "
        '"The job does not exist."'
    ),
)
def test_unknown_job(client: Client) -> None:
    op = operation_or_skip("getAnnotationReplyStatus")
    ex = client.call("GET", f"/apps/annotation-reply/enable/status/{random_id()}")
    expect_error(ex, op, 400, "invalid_param")


def _reply_enabled(client: Client, user: str) -> bool:
    params = client.call("GET", "/parameters", params={"user": user}).json()
    setting = params.get("annotation_reply") if isinstance(params, dict) else None
    return bool(isinstance(setting, dict) and setting.get("enabled"))


def _set_reply(client: Client, action: str) -> None:
    """Run a setting job to its end; a job the server cannot finish skips (its embedding model)."""
    start_op = operation_or_skip("setAnnotationReply")
    status_op = operation_or_skip("getAnnotationReplyStatus")
    ex = client.call("POST", f"/apps/annotation-reply/{action}", json_body=REPLY_SETTING)
    expect_status(ex, 200)
    job = expect_json_body(ex, start_op)
    deadline = time.monotonic() + JOB_WAIT_S
    while True:
        st = client.call("GET", f"/apps/annotation-reply/{action}/status/{job['job_id']}")
        expect_status(st, 200)
        status = expect_json_body(st, status_op)
        if status["job_status"] == "completed":
            return
        if status["job_status"] == "error":
            pytest.skip(f"the server could not {action} annotation replies: {status.get('error_msg')!r}")
        if time.monotonic() > deadline:
            fail(f"the {action} job is still {status['job_status']!r} after {JOB_WAIT_S:.0f} s", ex, st)
        time.sleep(0.5)


@check(
    "annotations.reply",
    "with annotation replies on, a query that is an annotation's question gets its answer",
    contract=(
        "setAnnotationReply: once enabled, a chat query matching an annotation's question is answered "
        "with the annotation's answer, and its hit_count grows"
    ),
)
def test_reply(client: Client, app: ChatApp, run: Run, token: str) -> None:
    operation_or_skip("setAnnotationReply")
    user = run.user("annotated")
    question, answer = f"What does {token} mean?", f"{token} means the annotation answered."
    _, made = create(client, run, question, answer)
    was_on = _reply_enabled(client, user)
    try:
        if not was_on:
            _set_reply(client, "enable")
        reply = app.send_ok(user, question)
        expect(
            reply.get("answer") == answer,
            f"the annotated question was answered {reply.get('answer')!r}, not the annotation's answer",
            expected="an enabled annotation reply answers a matching query with the annotation's answer",
        )
        _, found = find(client, token)
        hits = [a.get("hit_count") for a in found]
        expect(hits == [1], f"hit_count after one matching query: {hits}")
    finally:
        if not was_on:
            _set_reply(client, "disable")  # the app's setting as the run found it
        delete(client, run, made["id"])
