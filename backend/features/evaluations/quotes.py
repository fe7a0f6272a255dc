"""Anonymised quotes: the comments a summary is based on, without who wrote them.

A quote carries no author, and quotes are ordered by a digest of their text, not by
when they were written (which could tell a teacher who wrote what). Names of the
student's classmates are replaced in the text, since a comment may sign itself or
mention others: full names whatever their case, first names when capitalised (so
the word "will" survives a classmate called Will).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

CLASSMATE = "[a classmate]"


def name_patterns(names: Iterable[str], keep: str = "") -> list[re.Pattern[str]]:
    """Patterns for classmates' full names (any case) and first names (as written),
    longest first so a full name is replaced before its first name; the first name
    ``keep`` (the subject's own) is left alone."""
    full: set[str] = set()
    first: set[str] = set()
    for name in names:
        cleaned = " ".join(name.split())
        if not cleaned:
            continue
        full.add(cleaned)
        given = cleaned.split(" ")[0]
        if len(given) > 1 and given != keep:
            first.add(given)
    patterns = [
        re.compile(rf"\b{re.escape(n)}\b", re.IGNORECASE)
        for n in sorted(full, key=len, reverse=True)
    ]
    patterns += [re.compile(rf"\b{re.escape(n)}\b") for n in sorted(first, key=len, reverse=True)]
    return patterns


def anonymise(text: str, patterns: list[re.Pattern[str]]) -> str:
    for pattern in patterns:
        text = pattern.sub(CLASSMATE, text)
    return text


def quotes(comments: Iterable[str], classmates: Iterable[str], subject: str) -> list[str]:
    """The comments with classmates' names removed (the subject's own name stays: the
    comments are about them), in digest order."""
    subject_key = " ".join(subject.split()).casefold()
    others = [n for n in classmates if " ".join(n.split()).casefold() != subject_key]
    patterns = name_patterns(others, keep=subject.split()[0] if subject.split() else "")
    cleaned = [anonymise(c, patterns) for c in comments]
    return sorted(cleaned, key=lambda c: hashlib.sha256(c.encode()).hexdigest())
