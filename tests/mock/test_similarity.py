"""The annotation reply's similarity: difflib's ratio at a bounded cost, however long the texts or many
the annotations (a 10,000-character query against 1,000 annotations held a worker for 10 s)."""

from __future__ import annotations

import difflib
import random

import pytest

from mock_server.engine import match_key
from mock_server.similarity import FULL_COMPARISONS, MATCH_CHARS, Work, best_match
from tests.mock.conftest import AUTH, chat
from tests.mock.contract_check import CheckedClient

WORDS = [
    "who", "what", "film", "movie", "die", "hard", "bruce", "willis", "tower", "christmas", "john",
    "hans", "gruber", "best", "scene", "the", "of",
]  # fmt: skip


def text(chars: int, rng: random.Random) -> str:
    words, length = [], 0
    while length < chars:
        words.append(rng.choice(WORDS))
        length += len(words[-1]) + 1
    return " ".join(words)[:chars]


def test_a_chat_message_compares_few_annotations_and_short_texts(make_app, monkeypatch) -> None:
    """With 1,000 long annotations, one long query runs difflib's ratio at most FULL_COMPARISONS
    times, on at most MATCH_CHARS characters (it ran 1,000 times on the whole texts)."""
    rng = random.Random(7)
    client = CheckedClient(make_app())
    for i in range(1000):
        body = {"question": text(2000, rng), "answer": f"answer {i}"}
        assert client.post("/v1/apps/annotations", json=body, headers=AUTH).status_code == 201
    setting = {"score_threshold": 0.5, "embedding_provider_name": "p", "embedding_model_name": "m"}
    assert client.post("/v1/apps/annotation-reply/enable", json=setting, headers=AUTH).status_code == 200
    seen: list[int] = []
    ratio = difflib.SequenceMatcher.ratio

    def counting(self: difflib.SequenceMatcher) -> float:
        seen.append(max(len(self.a), len(self.b)))
        return ratio(self)

    monkeypatch.setattr(difflib.SequenceMatcher, "ratio", counting)
    assert chat(client, text(2000, rng)).status_code == 200
    assert 0 < len(seen) <= FULL_COMPARISONS, f"{len(seen)} full comparisons"
    assert max(seen) <= MATCH_CHARS, f"a comparison of {max(seen)} characters"


def test_the_work_is_bounded_on_texts_of_any_length() -> None:
    rng = random.Random(3)
    questions = [text(10_000, rng) for _ in range(300)]
    work = Work()
    best_match(text(10_000, rng), questions, 0.0, work)
    assert work.questions == 300 and work.compared <= FULL_COMPARISONS and work.longest <= MATCH_CHARS


def test_short_texts_score_exactly_difflibs_ratio() -> None:
    rng = random.Random(11)
    for _ in range(50):
        query, question = text(rng.randint(5, 120), rng), text(rng.randint(5, 120), rng)
        found = best_match(query, [question], -1.0)
        assert found is not None
        expected = difflib.SequenceMatcher(None, match_key(query), match_key(question)).ratio()
        assert found == (0, pytest.approx(expected))


def test_an_exact_question_wins_and_the_first_of_equal_scores_is_taken() -> None:
    questions = ["Who is Hans?", "who are you", "  WHO ARE YOU  ", "who are yo"]
    assert best_match("Who are you?", questions, 0.99) is None  # no exact match, nothing close enough
    assert best_match(" who are YOU ", questions, 0.99) == (1, 1.0)  # the first of two exact ones
    assert best_match("who are you!", questions, 0.9)[0] == 1  # the closest, the first of a tie


def test_a_long_text_cannot_pass_for_a_short_one() -> None:
    """Texts are compared on their first MATCH_CHARS characters, but a score never exceeds what the
    whole lengths allow: a question repeated ten times is no match for the question."""
    rng = random.Random(5)
    head = text(MATCH_CHARS, rng)
    found = best_match(head, [head + " " + text(9_000, rng)], 0.0)
    assert found is not None and found[1] <= 0.2
