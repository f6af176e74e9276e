"""The conversation engine: the canned answer for a query, and how it splits into stream pieces.

All three surfaces answer through this one engine, so the same last user message gets the same
answer everywhere. The match rule, fallback rule and tokenizer are those of fixtures/answers.yaml.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

DEFAULT_TOKENIZER = r"\s*\S+|\s+$"
DEFAULT_FALLBACK = "I am a mock assistant."
MATCH_RULES = {"exact-casefold-strip"}
CACHED_TEXT_MAX = 4096  # characters: longer texts are tokenized on each use
CACHE_ENTRIES = 1024  # texts per cache (at most ~4 MB each for pieces and counts)


def match_key(text: str) -> str:
    """The `exact-casefold-strip` rule of answers.yaml: strip, then full Unicode case folding."""
    return text.strip().casefold()


def hash_pick(query: str, count: int) -> int:
    """The `hash-pick` fallback: first 8 hex digits of sha256(key) as an integer, modulo count."""
    return int(hashlib.sha256(match_key(query).encode("utf-8")).hexdigest()[:8], 16) % count


class Engine:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc or {}
        rule = self.doc.get("match", "exact-casefold-strip")
        if rule not in MATCH_RULES:
            raise ValueError(f"answers.yaml: unknown match rule {rule!r} (known: {sorted(MATCH_RULES)})")
        self._answers: dict[str, str] = {}
        self._suggested: dict[str, list[str]] = {}
        raw = self.doc.get("answers", {})
        items = list(raw.items()) if isinstance(raw, dict) else [(e["query"], e["answer"]) for e in raw or []]
        for query, answer in items:
            self._answers[match_key(str(query))] = str(answer)
        for entry in raw if isinstance(raw, list) else []:
            if entry.get("suggested"):
                self._suggested[match_key(str(entry["query"]))] = [str(q) for q in entry["suggested"]]
        self.default_suggestions = [str(q) for q in self.doc.get("suggested") or []]
        self.tokenizer = re.compile(self.doc.get("tokenizer", DEFAULT_TOKENIZER))
        self._pieces: dict[str, tuple[str, ...]] = {}  # see _remember
        self._counts: dict[str, int] = {}
        fallback = self.doc.get("fallback") or {}
        if isinstance(fallback, str):
            fallback = {"answers": [fallback]}
        strategy = fallback.get("strategy", "hash-pick")
        if strategy != "hash-pick":
            raise ValueError(f"answers.yaml: unknown fallback strategy {strategy!r}")
        self.fallback_answers = [str(a) for a in fallback.get("answers") or [DEFAULT_FALLBACK]]

    def answer(self, query: str) -> str:
        """The canned answer for `query`, or the fallback answer the hash-pick rule selects."""
        found = self._answers.get(match_key(query))
        if found is not None:
            return found
        return self.fallback_answers[hash_pick(query, len(self.fallback_answers))]

    def suggestions(self, query: str) -> list[str]:
        """The follow-up questions after the answer to `query`: its entry's `suggested`, else the
        document's `suggested` list (at most three, as real servers suggest)."""
        return (self._suggested.get(match_key(query)) or self.default_suggestions)[:3]

    def pieces(self, answer: str) -> list[str]:
        """Stream pieces whose concatenation is exactly `answer`."""
        cached = self._pieces.get(answer)
        if cached is None:
            found = self.tokenizer.findall(answer)
            if "".join(found) != answer:  # a tokenizer that drops characters would corrupt the answer
                found = [answer]
            cached = tuple(found or [""])
            self._remember(self._pieces, answer, cached)
        return list(cached)

    def count_tokens(self, text: str) -> int:
        count = self._counts.get(text)
        if count is None:
            count = len(self.tokenizer.findall(text))
            self._remember(self._counts, text, count)
        return count

    @staticmethod
    def _remember(cache: dict[str, Any], text: str, value: Any) -> None:
        """Keep what the tokenizer made of a short text: answers are canned and queries repeat, so
        a chat message tokenized the same texts three times (pieces, then the usage's two counts).
        Bounded: long texts are not kept, and a full cache starts afresh."""
        if len(text) > CACHED_TEXT_MAX:
            return
        if len(cache) >= CACHE_ENTRIES:
            cache.clear()
        cache[text] = value
