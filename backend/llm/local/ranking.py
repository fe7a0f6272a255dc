"""Extractive ranking: the sentences and phrases that best represent a set of texts.

Sentences are scored by how much of the texts' frequent vocabulary they carry, with a
bonus for words several texts share (what several reviewers say matters more than one
reviewer's repetition), then picked greedily, skipping near-duplicates. Every tie is
broken by position, so the same texts always give the same answer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from backend.llm.local.text import (
    NEGATIVE,
    POSITIVE,
    Sentence,
    content_words,
    is_suggestion,
    polarity,
    tone,
)

# Sentences sharing more than this part of their content words are near-duplicates.
DUPLICATE_OVERLAP = 0.6


@dataclass(frozen=True)
class Corpus:
    """The sentences of the input texts and their vocabulary statistics."""

    sentences: tuple[Sentence, ...]
    weights: dict[str, float]

    @classmethod
    def of(cls, sentences: Sequence[Sentence]) -> Corpus:
        frequency: Counter[str] = Counter()
        sources: dict[str, set[int]] = {}
        for sentence in sentences:
            for word in content_words(sentence.words):
                frequency[word] += 1
                sources.setdefault(word, set()).add(sentence.source)
        texts = len({s.source for s in sentences}) or 1
        top = max(frequency.values(), default=1)
        weights = {
            word: (count / top) * (1.0 + len(sources[word]) / texts)
            for word, count in frequency.items()
        }
        return cls(tuple(sentences), weights)

    def about(self, phrase: str) -> Corpus:
        """The sentences that mention every word of ``phrase`` (a topic's evidence)."""
        needed = set(phrase.split())
        return Corpus.of([s for s in self.sentences if needed <= set(s.words)])

    def of_text(self, index: int) -> Corpus:
        """The sentences of one input text (the ``index``-th), weighed on their own."""
        return Corpus.of([s for s in self.sentences if s.source == index])

    def score(self, sentence: Sentence) -> float:
        if not sentence.content:
            return 0.0
        # Summed in a fixed order: a set's order changes between processes, and float
        # sums in another order can break a tie another way.
        carried = sum(self.weights.get(word, 0.0) for word in sorted(sentence.content))
        length = len(sentence.words)
        # Very short sentences say little; very long ones bury it.
        fit = 0.5 if length < 4 else 0.8 if length > 40 else 1.0
        return fit * carried / math.sqrt(len(sentence.content))

    def top_sentences(
        self, limit: int, keep: Callable[[Sentence], bool] = lambda s: True
    ) -> list[Sentence]:
        """Up to ``limit`` representative sentences passing ``keep``, in reading order."""
        ranked = sorted(
            (s for s in self.sentences if keep(s)),
            key=lambda s: (-self.score(s), s.source, s.position),
        )
        chosen: list[Sentence] = []
        for sentence in ranked:
            if len(chosen) >= limit:
                break
            if not any(_overlap(sentence, other) > DUPLICATE_OVERLAP for other in chosen):
                chosen.append(sentence)
        return sorted(chosen, key=lambda s: (s.source, s.position))

    def summary(self, limit: int = 3) -> str:
        return " ".join(s.text for s in self.top_sentences(limit))

    def praise(self, limit: int) -> list[str]:
        return [
            s.text
            for s in self.top_sentences(limit, lambda s: polarity(s) > 0 and not is_suggestion(s))
        ]

    def criticism(self, limit: int) -> list[str]:
        return [
            s.text for s in self.top_sentences(limit, lambda s: polarity(s) < 0 or is_suggestion(s))
        ]

    def keywords(self, limit: int) -> list[str]:
        """Frequent words and two-word phrases, most telling first."""
        counts: Counter[str] = Counter()
        for sentence in self.sentences:
            # Tone words (great, poor) say how, not what: they are no topic.
            kept = [
                w if w in sentence.content and w not in POSITIVE and w not in NEGATIVE else None
                for w in sentence.words
            ]
            for word in kept:
                if word is not None:
                    counts[word] += 1
            for first, second in zip(kept, kept[1:], strict=False):
                if first is not None and second is not None and first != second:
                    counts[f"{first} {second}"] += 1
        scored: dict[str, float] = {}
        for phrase, count in counts.items():
            parts = phrase.split()
            if len(parts) == 2 and count < 2:
                continue  # a pair seen once is chance, not a phrase
            weight = sum(self.weights.get(p, 0.0) for p in parts) / len(parts)
            scored[phrase] = count * weight * (1.5 if len(parts) == 2 else 1.0)
        ranked = sorted(scored, key=lambda p: (-scored[p], p))
        chosen: list[str] = []
        for phrase in ranked:
            if len(chosen) >= limit:
                break
            # A phrase already chosen covers its words, and a word its phrases.
            if any(_covers(phrase, other) for other in chosen):
                continue
            chosen.append(phrase)
        return chosen

    def sentiment(self) -> float:
        """-1 … 1: the mean tone of the sentences (advice counts as mildly negative)."""
        if not self.sentences:
            return 0.0
        return sum(tone(s) for s in self.sentences) / len(self.sentences)

    def title(self, first_line: str | None = None) -> str:
        """A short heading: the texts' own first line when it reads as one, else the
        leading keywords."""
        if first_line is not None:
            line = first_line.strip().strip("#").strip()
            if 0 < len(line) <= 80 and len(line.split()) <= 12 and not line.endswith("."):
                return line
        words = self.keywords(3)
        if not words:
            return self.sentences[0].text[:80] if self.sentences else ""
        heading = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
        return heading[0].upper() + heading[1:]


def _overlap(a: Sentence, b: Sentence) -> float:
    if not a.content or not b.content:
        return 1.0 if a.text == b.text else 0.0
    return len(a.content & b.content) / min(len(a.content), len(b.content))


def _covers(phrase: str, other: str) -> bool:
    return bool(set(phrase.split()) & set(other.split()))
