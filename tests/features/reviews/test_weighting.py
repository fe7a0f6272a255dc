"""Relationship weights: computed in code, the same for the same reviews, explained."""

from __future__ import annotations

import pytest

from backend.features.reviews.models import Relationship
from backend.features.reviews.weighting import RatedReview, review_weights, weigh

M, P, D, OTHER, S = (
    Relationship.manager,
    Relationship.peer,
    Relationship.direct_report,
    Relationship.other,
    Relationship.self,
)


def test_each_relationship_counts_as_a_whole_however_many_reviewers_it_has() -> None:
    weights = review_weights([M, P, P, P, D, D])

    assert weights[0] == pytest.approx(1 / 3)
    assert weights[1:4] == pytest.approx([1 / 9] * 3)
    assert weights[4:] == pytest.approx([1 / 6] * 2)
    assert sum(weights) == pytest.approx(1)


def test_other_reviewers_count_half_and_self_reviews_not_at_all() -> None:
    weights = review_weights([M, OTHER, S])

    assert weights == pytest.approx([2 / 3, 1 / 3, 0])


def test_self_reviews_alone_share_the_weight() -> None:
    assert review_weights([S, S]) == pytest.approx([0.5, 0.5])


def test_weighted_ratings_set_the_self_rating_apart() -> None:
    reviews = [
        RatedReview(M, {"Delivery": 5}),
        RatedReview(P, {"Delivery": 2}),
        RatedReview(P, {"Delivery": 4}),
        RatedReview(S, {"Delivery": 1}),
    ]

    [delivery] = weigh(["Delivery"], reviews).ratings

    # manager 5 × 1/2 + peers (2 + 4) × 1/4
    assert delivery.weighted_average == 4.0
    assert delivery.self_rating == 1.0
    assert delivery.by_relationship == {"manager": 5.0, "peer": 3.0, "self": 1.0}


def test_the_explanation_names_every_group_and_its_share() -> None:
    weighting = weigh(["A"], [RatedReview(r, {"A": 3}) for r in (M, P, P, OTHER, S)])

    assert weighting.explanation == (
        "Each relationship counts as a whole, however many reviewers it has, so a large "
        "group does not outweigh a small one; managers, direct reports and peers count "
        "fully, other reviewers half as much. Weights: 1 manager: 40.0 %; 2 peers: 40.0 %, "
        "20.0 % each; 1 other reviewer: 20.0 %. 1 self-review is set beside the others and "
        "not weighted in."
    )
    assert [(g.relationship, g.reviews, g.share) for g in weighting.relationships] == [
        (M, 1, 0.4),
        (P, 2, 0.4),
        (OTHER, 1, 0.2),
        (S, 1, 0.0),
    ]


def test_the_same_reviews_in_another_order_weigh_the_same() -> None:
    reviews = [RatedReview(r, {"A": n}) for r, n in ((M, 5), (P, 1), (D, 3), (P, 4))]

    assert weigh(["A"], reviews) == weigh(["A"], reviews[::-1])
