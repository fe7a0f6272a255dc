"""Fill any answer schema from the input texts: each field gets a strategy.

A strategy comes from the prompt's ``[local]`` table (``field = "name[:count]"``) or
is inferred from the field's name and type:

===============  ==========================================================
strategy         gives
===============  ==========================================================
``summary``      the most representative sentences (3), joined
``title``        the texts' own first line if it reads as a heading, else
                 leading keywords
``keywords``     frequent words and phrases (5)
``praise``       sentences of positive tone that are not advice (3)
``criticism``    sentences of negative tone or giving advice (3)
``sentences``    the most representative sentences, as a list (3)
``sentiment``    a label (positive / mixed / negative, or the closest choice)
``score``        the texts' tone mapped onto the field's bounds
``count``        the number of input texts
``language``     the texts' language as an ISO 639-1 code ("und" when unclear)
``confidence``   grows with the amount of text, at most 0.9
``each``         (a list) one entry per input text, filled from that text alone
``position``     (a number in an ``each`` entry) the text's place, 1 for the first
``empty``        an empty value
===============  ==========================================================

Fields of nested models take strategies from dotted keys of the same table
(``"questions.number" = "position"``).

Every text in an answer is a sentence or word of the inputs; nothing is invented.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import annotated_types
from pydantic import BaseModel

from backend.llm.local.ranking import Corpus
from backend.llm.local.text import language_of

DEFAULT_COUNTS = {"summary": 3, "keywords": 5, "praise": 3, "criticism": 3, "sentences": 3}

# Field-name parts (prefixes) that choose a strategy, checked in this order.
_NAME_CUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("language", ("language", "lang", "locale")),
    ("criticism", ("improv", "weak", "concern", "suggest", "growth", "risk", "negative",
                   "issue", "gap", "recommend", "challeng", "develop")),
    ("praise", ("strength", "positive", "praise", "highlight", "pros", "well", "achiev")),
    ("keywords", ("tag", "keyword", "topic", "theme", "label", "categor", "skill")),
    ("title", ("title", "name", "headline", "heading", "subject")),
    ("sentiment", ("sentiment", "tone", "mood")),
    ("score", ("score", "rating", "grade", "mark")),
    ("confidence", ("confidence", "certainty")),
    ("count", ("count", "number", "total", "num")),
    ("summary", ("summary", "overview", "abstract", "synopsis", "description", "feedback",
                 "overall", "narrative", "assessment", "body", "text")),
)  # fmt: skip

_SENTIMENT_CHOICES = {
    "positive": ("positive", "good", "favourable", "favorable", "high", "strong", "yes"),
    "negative": ("negative", "poor", "bad", "unfavourable", "low", "weak", "no"),
    "mixed": ("mixed", "neutral", "medium", "average", "moderate"),
}


class CannotFill(ValueError):
    """The schema has a field the local provider has no way to fill."""


@dataclass(frozen=True)
class Source:
    corpus: Corpus
    first_line: str | None
    texts: int
    topic: str | None = None
    # The place (1, 2, …) of the one input text an ``each`` entry is filled from.
    position: int | None = None


def fill(schema: type[BaseModel], source: Source, overrides: Mapping[str, str]) -> dict[str, Any]:
    """Values for every field of ``schema`` (fields with defaults and no strategy are left
    to their defaults)."""
    values: dict[str, Any] = {}
    for name, field in schema.model_fields.items():
        strategy, count = _parse(overrides.get(name))
        annotation, constraints = _unwrap(field.annotation, list(field.metadata))
        nested = _nested(overrides, name)
        try:
            values[name] = _value(name, annotation, constraints, strategy, count, source, nested)
        except CannotFill:
            if field.is_required():
                raise
    return values


def _nested(overrides: Mapping[str, str], name: str) -> dict[str, str]:
    """The strategies of a nested model's fields: the dotted keys under ``name``."""
    prefix = name + "."
    return {k.removeprefix(prefix): v for k, v in overrides.items() if k.startswith(prefix)}


def _parse(spec: str | None) -> tuple[str | None, int | None]:
    if not spec:
        return None, None
    name, _, count = spec.partition(":")
    return name.strip(), int(count) if count.strip() else None


def _unwrap(annotation: Any, constraints: list[Any]) -> tuple[Any, list[Any]]:
    """Strip ``Optional`` and ``Annotated``, collecting the constraints met on the way."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            constraints = [*constraints, *extra]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation, constraints
            annotation = options[0]
        else:
            return annotation, constraints


def _value(
    name: str,
    annotation: Any,
    constraints: list[Any],
    strategy: str | None,
    count: int | None,
    source: Source,
    nested: Mapping[str, str],
) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return _choice([str(v) for v in typing.get_args(annotation)], source, name)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        chosen = _choice([str(m.value) for m in annotation], source, name)
        return annotation(chosen).value
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return fill(annotation, source, nested)
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set):
        return _list(name, annotation, constraints, strategy, count, source, nested)
    if origin is dict or annotation is dict:
        return {}
    if annotation is str:
        return _text(name, constraints, strategy, count, source)
    if annotation is bool:
        return _flag(name, source)
    if annotation in (int, float):
        return _number(name, annotation, constraints, strategy, source)
    raise CannotFill(f"field {name!r} of type {annotation!r}")


def _infer(name: str, default: str) -> str:
    parts = name.lower().split("_")
    for strategy, cues in _NAME_CUES:
        if any(part.startswith(cue) for part in parts for cue in cues):
            return strategy
    return default


def _text(
    name: str, constraints: list[Any], strategy: str | None, count: int | None, source: Source
) -> str:
    strategy = strategy or _infer(name, "summary")
    corpus = source.corpus
    if strategy == "title":
        text = source.topic.capitalize() if source.topic else corpus.title(source.first_line)
    elif strategy == "sentiment":
        text = _choice(list(_SENTIMENT_CHOICES), source, name)
    elif strategy == "keywords":
        text = ", ".join(corpus.keywords(count or DEFAULT_COUNTS["keywords"]))
    elif strategy == "language":
        text = language_of([w for s in corpus.sentences for w in s.words])
    elif strategy == "empty":
        text = ""
    elif strategy in ("praise", "criticism"):
        # The sentences of that tone, joined; none found leaves the text empty, as it
        # leaves a list empty, rather than passing another sentence off as advice.
        text = " ".join(getattr(corpus, strategy)(count or 1))
    else:
        # A field no cue names gets one sentence; a summary-like one, a few.
        limit = count or (DEFAULT_COUNTS["summary"] if strategy == "summary" else 1)
        text = corpus.summary(limit)
    return _shorten(text, _bound(constraints, annotated_types.MaxLen, "max_length"))


def _list(
    name: str,
    annotation: Any,
    constraints: list[Any],
    strategy: str | None,
    count: int | None,
    source: Source,
    nested: Mapping[str, str],
) -> list[Any]:
    args = typing.get_args(annotation)
    item, item_constraints = _unwrap(args[0] if args else str, [])
    most = _bound(constraints, annotated_types.MaxLen, "max_length")
    least = _bound(constraints, annotated_types.MinLen, "min_length") or 0
    corpus = source.corpus
    strategy = strategy or _infer(name, "sentences")
    limit = count or DEFAULT_COUNTS.get(strategy, 3)
    if strategy == "each":
        limit = count or source.texts
    if most is not None:
        limit = min(limit, int(most))
    if strategy == "each":
        return _each(name, item, source, limit, nested)
    if isinstance(item, type) and issubclass(item, BaseModel):
        # One entry per leading topic, each filled from the sentences about it.
        topics = corpus.keywords(limit)
        return [
            fill(item, replace(source, corpus=corpus.about(t), topic=t), nested) for t in topics
        ]
    if item is not str:
        raise CannotFill(f"list field {name!r} of {item!r}")
    if strategy == "keywords" or strategy == "title":
        items = corpus.keywords(limit)
    elif strategy == "praise":
        items = corpus.praise(limit)
    elif strategy == "criticism":
        items = corpus.criticism(limit)
    elif strategy == "empty":
        items = []
    else:
        items = [s.text for s in corpus.top_sentences(limit)]
    if len(items) < least:
        # Too few of the kind asked for: make up the number with representative ones.
        extra = [s.text for s in corpus.top_sentences(int(least) + len(items))]
        items += [text for text in extra if text not in items][: int(least) - len(items)]
    item_most = _bound(item_constraints, annotated_types.MaxLen, "max_length")
    return [_shorten(text, item_most) for text in items]


def _each(name: str, item: Any, source: Source, limit: int, nested: Mapping[str, str]) -> list[Any]:
    """One entry per input text, in order, each from that text's sentences alone (a
    review per reviewer, feedback per answer)."""
    texts = [
        replace(source, corpus=source.corpus.of_text(index), texts=1, position=index + 1)
        for index in range(min(limit, source.texts))
    ]
    if isinstance(item, type) and issubclass(item, BaseModel):
        return [fill(item, text, nested) for text in texts]
    if item is str:
        return [text.corpus.summary(1) for text in texts]
    raise CannotFill(f"list field {name!r} of {item!r}")


def _flag(name: str, source: Source) -> bool:
    mood = source.corpus.sentiment()
    kind = _infer(name, "")
    if kind == "criticism":
        return mood < 0
    if kind == "praise":
        return mood > 0
    return False


def _number(
    name: str, annotation: Any, constraints: list[Any], strategy: str | None, source: Source
) -> int | float:
    strategy = strategy or _infer(name, "score")
    low = _bound(constraints, annotated_types.Ge, "ge")
    above = _bound(constraints, annotated_types.Gt, "gt")
    high = _bound(constraints, annotated_types.Le, "le")
    below = _bound(constraints, annotated_types.Lt, "lt")
    step = 1 if annotation is int else 1e-6
    lo = low if low is not None else above + step if above is not None else None
    hi = high if high is not None else below - step if below is not None else None
    if strategy == "position":
        if source.position is None:
            raise CannotFill(f"field {name!r}: a position exists only in an 'each' entry")
        value: float = source.position
    elif strategy == "count":
        value = source.texts
    elif strategy == "confidence":
        share = min(0.9, 0.2 + 0.05 * len(source.corpus.sentences))
        value = share if lo is None or hi is None else lo + share * (hi - lo)
    else:
        mood = (source.corpus.sentiment() + 1) / 2  # 0 … 1
        if lo is None or hi is None:
            lo, hi = (1, 5) if annotation is int else (0.0, 1.0)
        value = lo + mood * (hi - lo)
    if lo is not None:
        value = max(value, lo)
    if hi is not None:
        value = min(value, hi)
    return round(value) if annotation is int else round(value, 3)


def _choice(options: list[str], source: Source, name: str) -> str:
    mood = source.corpus.sentiment()
    wanted = "positive" if mood > 0.2 else "negative" if mood < -0.2 else "mixed"
    lowered = {option.lower(): option for option in options}
    for candidate in _SENTIMENT_CHOICES[wanted]:
        if candidate in lowered:
            return lowered[candidate]
    if not options:
        raise CannotFill(f"field {name!r} has no choices")
    return options[0]


def _bound(constraints: list[Any], kind: type[Any], attribute: str) -> Any:
    for constraint in constraints:
        if isinstance(constraint, kind):
            return getattr(constraint, attribute)
    return None


def _shorten(text: str, most: int | None) -> str:
    if most is None or len(text) <= most:
        return text
    cut = text[: max(most - 1, 0)].rsplit(" ", 1)[0].rstrip(" ,;:")
    return (cut + "…")[:most]
