"""How much each review counts: relationship weights, computed in code, the same for
the same reviews, explained in words and passed to the model.

The rule (docs/features/reviews.md): every relationship group present counts as a
whole, however many reviewers it has, so ten peers do not drown out one manager.
Managers, direct reports and peers count fully, `other` reviewers half as much; a
group's share is split evenly among its reviews. Self-reviews are set beside the
others (their ratings are shown apart) and not weighted in, unless nothing else was
submitted, in which case the self-reviews share the weight evenly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from backend.features.reviews.models import Relationship

GROUP_WEIGHTS: dict[Relationship, float] = {
    Relationship.manager: 1.0,
    Relationship.direct_report: 1.0,
    Relationship.peer: 1.0,
    Relationship.other: 0.5,
    Relationship.self: 0.0,
}

# The order groups are listed in, explanations included.
GROUP_ORDER = (
    Relationship.manager,
    Relationship.direct_report,
    Relationship.peer,
    Relationship.other,
    Relationship.self,
)


@dataclass(frozen=True)
class RatedReview:
    relationship: Relationship
    ratings: dict[str, int]


class RelationshipWeight(BaseModel):
    relationship: Relationship
    reviews: int = Field(description="Reviews from this relationship.")
    share: float = Field(description="Share of the whole weight the group carries (0 to 1).")
    per_review: float = Field(description="Share each of its reviews carries (0 to 1).")


class CompetencyRating(BaseModel):
    competency: str
    weighted_average: float = Field(description="1 to 5, by the weights above.")
    self_rating: float | None = Field(
        description="The self-review's rating, shown apart; null without a self-review."
    )
    by_relationship: dict[str, float] = Field(description="Plain average per relationship.")


class Weighting(BaseModel):
    explanation: str = Field(description="How relationships were weighted, in words.")
    relationships: list[RelationshipWeight]
    ratings: list[CompetencyRating]


def review_weights(relationships: Sequence[Relationship]) -> list[float]:
    """The share of each review (in the order given); the shares add up to 1."""
    counts: dict[Relationship, int] = defaultdict(int)
    for relationship in relationships:
        counts[relationship] += 1
    groups = {r: _group_weight(r, counts) for r in counts}
    total = sum(groups.values())
    return [groups[r] / total / counts[r] for r in relationships]


def _group_weight(relationship: Relationship, counts: dict[Relationship, int]) -> float:
    only_self = all(r is Relationship.self for r in counts)
    return 1.0 if only_self else GROUP_WEIGHTS[relationship]


def weigh(competencies: Sequence[str], reviews: Sequence[RatedReview]) -> Weighting:
    """Weights per relationship, weighted ratings per competency, and the explanation."""
    weights = review_weights([r.relationship for r in reviews])
    groups = _groups(reviews, weights)
    ratings = [_rating(c, reviews, weights) for c in competencies]
    return Weighting(explanation=explain(groups), relationships=groups, ratings=ratings)


def _groups(reviews: Sequence[RatedReview], weights: Sequence[float]) -> list[RelationshipWeight]:
    shares: dict[Relationship, list[float]] = defaultdict(list)
    for review, weight in zip(reviews, weights, strict=True):
        shares[review.relationship].append(weight)
    return [
        RelationshipWeight(
            relationship=r,
            reviews=len(shares[r]),
            share=round(sum(shares[r]), 4),
            per_review=round(shares[r][0], 4),
        )
        for r in GROUP_ORDER
        if r in shares
    ]


def _rating(
    competency: str, reviews: Sequence[RatedReview], weights: Sequence[float]
) -> CompetencyRating:
    rated = [(r, w) for r, w in zip(reviews, weights, strict=True) if competency in r.ratings]
    weighted = sum(r.ratings[competency] * w for r, w in rated)
    total = sum(w for _, w in rated)
    by_group: dict[Relationship, list[int]] = defaultdict(list)
    for review, _ in rated:
        by_group[review.relationship].append(review.ratings[competency])
    own = by_group.get(Relationship.self)
    return CompetencyRating(
        competency=competency,
        weighted_average=round(weighted / total, 2) if total else 0.0,
        self_rating=round(sum(own) / len(own), 2) if own else None,
        by_relationship={
            r.value: round(sum(by_group[r]) / len(by_group[r]), 2)
            for r in GROUP_ORDER
            if r in by_group
        },
    )


LABELS = {
    Relationship.manager: ("manager", "managers"),
    Relationship.direct_report: ("direct report", "direct reports"),
    Relationship.peer: ("peer", "peers"),
    Relationship.other: ("other reviewer", "other reviewers"),
    Relationship.self: ("self-review", "self-reviews"),
}


def label(relationship: Relationship, count: int = 1) -> str:
    singular, plural = LABELS[relationship]
    return singular if count == 1 else plural


def percent(share: float) -> str:
    return f"{share * 100:.1f} %"


def explain(groups: Sequence[RelationshipWeight]) -> str:
    """The weighting in a few sentences, from the groups alone (deterministic)."""
    weighted = [g for g in groups if g.share > 0]
    parts = []
    for g in weighted:
        each = f", {percent(g.per_review)} each" if g.reviews > 1 else ""
        parts.append(f"{g.reviews} {label(g.relationship, g.reviews)}: {percent(g.share)}{each}")
    sentences = [
        "Each relationship counts as a whole, however many reviewers it has, so a large "
        "group does not outweigh a small one; managers, direct reports and peers count "
        "fully, other reviewers half as much.",
        "Weights: " + "; ".join(parts) + ".",
    ]
    own = next((g for g in groups if g.relationship is Relationship.self), None)
    if own is not None and own.share == 0:
        verb = "is" if own.reviews == 1 else "are"
        sentences.append(
            f"{own.reviews} {label(Relationship.self, own.reviews)} {verb} set beside the "
            "others and not weighted in."
        )
    elif own is not None:
        sentences.append("Only self-reviews were submitted, so they share the weight evenly.")
    return " ".join(sentences)
