"""Feedback rules (app/reputation/rules.py): criteria, validation, the eBay-style summary. No database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.reputation.rules import (
    COMMENT_MAX,
    CRITERIA,
    REPLY_MAX,
    Direction,
    criteria_for,
    ebay_summary,
    validate_feedback,
    validate_reply,
)
from app.reputation.trust import Rating

NOW = datetime(2026, 6, 1, tzinfo=UTC)
BORN = NOW - timedelta(days=900)
VENDOR = 99


def fb(rater: int, value: int = 1, days_ago: float = 1, scores: dict[str, int] | None = None) -> Rating:
    return Rating(rater, VENDOR, value, 5000, NOW - timedelta(days=days_ago), BORN, scores or {})


def test_each_direction_has_its_criteria():
    assert CRITERIA[Direction.BUYER_TO_VENDOR] == (
        "item_as_described", "communication", "delivery_time", "price_honoured")  # fmt: skip
    assert criteria_for("vendor_to_buyer") == ("paid_promptly", "communication")
    assert criteria_for("member_to_organiser") == ("clarity", "fairness", "responsiveness")
    assert criteria_for("sideways") == ()


def test_a_complete_feedback_is_valid():
    assert validate_feedback("buyer_to_vendor", -1, {"communication": 1, "delivery_time": 5}, "Late.") == {}
    assert validate_feedback("member_to_organiser", 0, None, None) == {}


@pytest.mark.parametrize(
    ("direction", "rating", "scores", "comment", "field"),
    [
        ("sideways", 1, {}, "", "direction"),
        ("buyer_to_vendor", 2, {}, "", "rating"),
        ("buyer_to_vendor", True, {}, "", "rating"),
        ("buyer_to_vendor", "1", {}, "", "rating"),
        ("buyer_to_vendor", 1, {"item_as_described": 6}, "", "scores"),
        ("buyer_to_vendor", 1, {"item_as_described": 0}, "", "scores"),
        ("buyer_to_vendor", 1, {"item_as_described": 4.5}, "", "scores"),
        ("buyer_to_vendor", 1, {"paid_promptly": 4}, "", "scores"),
        ("vendor_to_buyer", 1, [5], "", "scores"),
        ("buyer_to_vendor", 1, {}, "x" * (COMMENT_MAX + 1), "comment"),
        ("buyer_to_vendor", 1, {}, 42, "comment"),
        ("buyer_to_vendor", 1, {}, "bell\x07", "comment"),
    ],
)
def test_a_bad_field_is_named(direction, rating, scores, comment, field):
    assert field in validate_feedback(direction, rating, scores, comment)


def test_every_bad_field_is_reported_at_once():
    errors = validate_feedback("buyer_to_vendor", 5, {"clarity": 3}, "x" * (COMMENT_MAX + 1))
    assert set(errors) == {"rating", "scores", "comment"}


def test_a_comment_may_use_its_whole_length_and_new_lines():
    assert validate_feedback("buyer_to_vendor", 1, {}, "ok\n" + "x" * (COMMENT_MAX - 3)) == {}


@pytest.mark.parametrize("reply", [None, "", "   ", "x" * (REPLY_MAX + 1), 7])
def test_a_reply_must_be_short_non_empty_text(reply):
    assert validate_reply(reply)


def test_a_reasonable_reply_is_fine():
    assert validate_reply("We sent a replacement.") == []


def test_the_feedback_score_counts_distinct_raters_net_of_negatives():
    ratings = [fb(1), fb(1), fb(2, 1), fb(2, -1), fb(3, -1), fb(4, 0), fb(5), fb(5, -1), fb(5, 1)]
    # rater 1: +2 → +1; rater 2: 0 → 0; rater 3: -1 → -1; rater 4: 0 → 0; rater 5: +1 → +1
    assert ebay_summary(ratings, NOW).feedback_score == 1


def test_percent_positive_covers_12_months_and_ignores_neutrals():
    ratings = [fb(1), fb(2), fb(3), fb(4, -1), fb(5, 0), fb(6, -1, days_ago=400)]
    assert ebay_summary(ratings, NOW).percent_positive_12m == 75.0


def test_percent_positive_is_rounded_to_one_decimal_and_none_without_ratings():
    assert ebay_summary([fb(1), fb(2), fb(3, -1)], NOW).percent_positive_12m == 66.7
    assert ebay_summary([fb(1, 0)], NOW).percent_positive_12m is None
    assert ebay_summary([], NOW).percent_positive_12m is None


def test_counts_by_period():
    ratings = [fb(1, 1, 10), fb(2, -1, 29.9), fb(3, 0, 100), fb(4, 1, 300), fb(5, -1, 366)]
    counts = ebay_summary(ratings, NOW).counts
    assert counts["1m"] == {"positive": 1, "neutral": 0, "negative": 1}
    assert counts["6m"] == {"positive": 1, "neutral": 1, "negative": 1}
    assert counts["12m"] == {"positive": 2, "neutral": 1, "negative": 1}


def test_detailed_averages_with_their_counts():
    ratings = [fb(1, scores={"communication": 5, "delivery_time": 2}), fb(2, scores={"communication": 2}),
               fb(3, scores={"communication": 1}, days_ago=500)]  # fmt: skip
    assert ebay_summary(ratings, NOW).detailed == {
        "communication": {"average": 3.5, "count": 2},
        "delivery_time": {"average": 2.0, "count": 1},
    }


def test_a_direction_lists_all_its_criteria_even_unrated_ones():
    detailed = ebay_summary([fb(1, scores={"communication": 4})], NOW, "buyer_to_vendor").detailed
    assert set(detailed) == set(CRITERIA["buyer_to_vendor"])
    assert detailed["price_honoured"] == {"average": None, "count": 0}


def test_feedback_from_after_now_does_not_count():
    assert ebay_summary([fb(1, days_ago=-1)], NOW).feedback_score == 0


def test_one_ratee_at_a_time():
    with pytest.raises(ValueError, match="one ratee"):
        ebay_summary([fb(1), fb(2)._replace(ratee_id=7)], NOW)


def test_the_summary_is_plain_json_data():
    data = ebay_summary([fb(1, scores={"communication": 4})], NOW).as_dict()
    assert data["counts"]["12m"]["positive"] == 1
    assert data["detailed"]["communication"]["count"] == 1


ratings_st = st.lists(st.builds(fb, st.integers(1, 8), st.sampled_from((1, 0, -1)), st.floats(0, 800)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(ratings_st)
def test_summary_invariants(ratings):
    summary = ebay_summary(ratings, NOW)
    one, six, twelve = (summary.counts[p] for p in ("1m", "6m", "12m"))
    assert all(one[k] <= six[k] <= twelve[k] for k in one)
    assert abs(summary.feedback_score) <= len({r.rater_id for r in ratings})
    percent = summary.percent_positive_12m
    assert percent is None or 0.0 <= percent <= 100.0
