"""How close a chat query is to an annotation's question, at a bounded cost.

Real servers compare embeddings; the mock compares text: difflib's ratio (0..1) of the casefolded,
stripped query and question, and an exact question always scores 1. Comparing in full cost ~10 ms
per annotation for a 10,000-character query, on the worker's only loop: with 1,000 annotations one
chat message held every other request of the worker for 10 s. So:

* texts are compared on their first MATCH_CHARS characters, and a score never exceeds what the
  lengths of the whole texts allow (difflib's real_quick_ratio), so a long text cannot pass for a
  short one (for texts up to MATCH_CHARS long, the score is exactly difflib's ratio);
* a question is compared in full only when an upper bound of its score (the lengths, then the
  characters both texts share: difflib's quick_ratio) reaches the threshold and beats the best so far;
  the FULL_COMPARISONS candidates of highest bound at most (with many near-equal bounds, a question
  beyond them is not looked at: the mock's similarity is a stand-in, not a search engine);
* the search yields to the worker's other requests every SLICE_S of work.
"""

from __future__ import annotations

import difflib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from mock_server.engine import match_key

MATCH_CHARS = 1000  # characters of a query and of a question that are compared
FULL_COMPARISONS = 16  # questions compared with difflib's ratio per query, at most
SLICE_S = 0.005  # seconds of work between two yields to the worker's other requests
# A yield sleeps this long: under gevent, sleep(0) may resume this greenlet before the loop polls for
# I/O (new requests would wait for the whole search); any positive sleep waits for the next loop turn.
PAUSE_S = 0.0001


@dataclass
class Work:
    """What one search did (the tests bound it; nothing else reads it)."""

    questions: int = 0
    bounded: int = 0  # candidates whose shared characters were counted
    compared: int = 0  # full comparisons (difflib's ratio)
    longest: int = 0  # the longest text a full comparison was given
    yields: int = 0


class _Slicer:
    """Yields to the worker's other requests (a turn of gevent's loop; with threads, the GIL) every
    SLICE_S of work."""

    def __init__(self, work: Work) -> None:
        self.work = work
        self.since = time.perf_counter()

    def tick(self) -> None:
        now = time.perf_counter()
        if now - self.since >= SLICE_S:
            time.sleep(PAUSE_S)  # gevent patches time.sleep: the loop runs every other ready request
            self.work.yields += 1
            self.since = time.perf_counter()


def _length_bound(a: int, b: int) -> float:
    """difflib's real_quick_ratio of two texts of these lengths: no score is higher."""
    return 1.0 if a + b == 0 else 2.0 * min(a, b) / (a + b)


def best_match(
    query: str, questions: Sequence[str], threshold: float, work: Work | None = None
) -> tuple[int, float] | None:
    """(index, score) of the question most similar to `query` (the first of equal scores), or None
    when none reaches `threshold`."""
    work = work if work is not None else Work()
    slicer = _Slicer(work)
    wanted = match_key(query)
    head = wanted[:MATCH_CHARS]
    head_chars: Counter[str] | None = None
    candidates: list[tuple[float, int, str, int]] = []  # (-bound, index, question head, question length)
    for index, question in enumerate(questions):
        work.questions += 1
        slicer.tick()
        key = match_key(question)
        if key == wanted:
            return index, 1.0  # an exact question: nothing scores higher, and it is the first
        bound = _length_bound(len(wanted), len(key))
        if bound < threshold:
            continue
        candidates.append((-bound, index, key[:MATCH_CHARS], len(key)))
    bounded: list[tuple[float, int, str, int]] = []
    for negative, index, other, length in candidates:
        slicer.tick()
        if head_chars is None:
            head_chars = Counter(head)
        work.bounded += 1
        shared = sum((head_chars & Counter(other)).values())
        bound = min(-negative, 1.0 if not head and not other else 2.0 * shared / (len(head) + len(other)))
        if bound >= threshold:
            bounded.append((-bound, index, other, length))
    bounded.sort()
    best: tuple[int, float] | None = None
    for negative, index, other, length in bounded:
        bound = -negative
        if best is not None and (bound < best[1] or (bound == best[1] and index > best[0])):
            if bound < best[1]:
                break  # sorted by bound: nothing after this can do better
            continue
        if work.compared >= FULL_COMPARISONS:
            break
        slicer.tick()
        work.compared += 1
        work.longest = max(work.longest, len(head), len(other))
        ratio = difflib.SequenceMatcher(None, head, other).ratio()
        score = min(ratio, _length_bound(len(wanted), length))
        if best is None or score > best[1] or (score == best[1] and index < best[0]):
            best = (index, score)
    if best is None or best[1] < threshold:
        return None
    return best
