"""Feedback rules and eBay-style scores (pure: no Flask, no database, no clock)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from app.reputation.trust import Rating
from app.text import control_characters


class Direction(StrEnum):
    """Who rates whom; the values are what Feedback.direction stores."""

    BUYER_TO_VENDOR = "buyer_to_vendor"
    VENDOR_TO_BUYER = "vendor_to_buyer"
    MEMBER_TO_ORGANISER = "member_to_organiser"


# Keyed by the plain strings (a Direction compares and hashes as its value, so either works).
CRITERIA: dict[str, tuple[str, ...]] = {
    Direction.BUYER_TO_VENDOR.value: ("item_as_described", "communication", "delivery_time", "price_honoured"),
    Direction.VENDOR_TO_BUYER.value: ("paid_promptly", "communication"),
    Direction.MEMBER_TO_ORGANISER.value: ("clarity", "fairness", "responsiveness"),
}
CRITERION_LABELS = {
    "item_as_described": "Item as described", "communication": "Communication", "delivery_time": "Delivery time",
    "price_honoured": "Price honoured", "paid_promptly": "Paid promptly", "clarity": "Clarity",
    "fairness": "Fairness", "responsiveness": "Responsiveness",
}  # fmt: skip
RATINGS = (1, 0, -1)  # positive, neutral, negative
SCORE_MIN, SCORE_MAX = 1, 5  # detailed scores are whole stars
COMMENT_MAX = 1000  # characters
REPLY_MAX = 1000  # characters
# eBay's "1, 6 and 12 months", in days so that a summary needs nothing but `now`.
PERIODS = {"1m": timedelta(days=30), "6m": timedelta(days=182), "12m": timedelta(days=365)}


def criteria_for(direction: str) -> tuple[str, ...]:
    """Return the detailed criteria of a direction (none for an unknown direction)."""
    return CRITERIA.get(direction, ())


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _score_problems(direction: str, scores: object) -> list[str]:
    if scores is None:
        return []  # no detailed scores at all is fine
    if not isinstance(scores, Mapping):
        return [f"Scores must map criteria to whole numbers from {SCORE_MIN} to {SCORE_MAX}."]
    allowed, problems = criteria_for(direction), []
    for criterion, score in scores.items():
        if criterion not in allowed:
            problems.append(f"'{criterion}' is not rated in this direction; use: {', '.join(allowed)}.")
        elif not _is_int(score) or not SCORE_MIN <= score <= SCORE_MAX:
            problems.append(f"{CRITERION_LABELS[criterion]} must be from {SCORE_MIN} to {SCORE_MAX}.")
    return problems


def _text_problems(text: object, limit: int) -> list[str]:
    if not isinstance(text, str):
        return ["Must be text."]
    if len(text) > limit:
        return [f"At most {limit:,} characters (this one has {len(text):,})."]
    if control_characters(text, multiline=True):
        return ["Remove control characters."]
    return []


def validate_feedback(direction: str, rating: object, scores: object, comment: object) -> dict[str, list[str]]:
    """Return per-field problems with a feedback (empty when it is acceptable)."""
    errors: dict[str, list[str]] = {}
    if direction not in CRITERIA:
        errors["direction"] = [f"Unknown direction; use: {', '.join(CRITERIA)}."]
    if not _is_int(rating) or rating not in RATINGS:
        errors["rating"] = ["Rating must be 1 (positive), 0 (neutral) or -1 (negative)."]
    if "direction" not in errors and (problems := _score_problems(direction, scores)):
        errors["scores"] = problems
    if comment is not None and (problems := _text_problems(comment, COMMENT_MAX)):
        errors["comment"] = problems
    return errors


def validate_reply(text: object) -> list[str]:
    """Return the problems with a ratee's public reply (empty when acceptable)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return ["Write a reply."]
    return _text_problems(text, REPLY_MAX)


@dataclass(frozen=True)
class EbaySummary:
    """What a profile shows on the surface, eBay-style; plain data, stored as JSON."""

    feedback_score: int  # distinct raters: +1 for a net positive rater, -1 for a net negative one
    percent_positive_12m: float | None  # positives / (positives + negatives) over 12 months, in percent
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # period -> positive/neutral/negative
    detailed: dict[str, dict[str, Any]] = field(default_factory=dict)  # criterion -> average, count (12 months)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready data."""
        return asdict(self)


def _feedback_score(ratings: list[Rating]) -> int:
    net: dict[int, int] = {}
    for r in ratings:
        net[r.rater_id] = net.get(r.rater_id, 0) + r.value
    return sum(1 if total > 0 else -1 for total in net.values() if total)


def _count(ratings: list[Rating], since: datetime) -> dict[str, int]:
    values = [r.value for r in ratings if r.created_at >= since]
    return {
        "positive": sum(v > 0 for v in values),
        "neutral": sum(v == 0 for v in values),
        "negative": sum(v < 0 for v in values),
    }


def _detailed(ratings: list[Rating], since: datetime, direction: str | None) -> dict[str, dict[str, Any]]:
    allowed = criteria_for(direction) if direction is not None else None
    totals: dict[str, list[int]] = {c: [] for c in allowed} if allowed is not None else {}
    for r in ratings:
        if r.created_at >= since:
            for criterion, score in r.scores.items():
                if allowed is None or criterion in allowed:
                    totals.setdefault(criterion, []).append(score)
    return {
        c: {"average": round(sum(s) / len(s), 2) if s else None, "count": len(s)} for c, s in sorted(totals.items())
    }


def ebay_summary(ratings: Iterable[Rating], now: datetime, direction: str | None = None) -> EbaySummary:
    """Summarise one ratee's revealed ratings as eBay does; `direction` lists all its criteria, rated or not."""
    kept = [r for r in ratings if r.created_at <= now]  # feedback from after `now` does not exist yet
    if len({r.ratee_id for r in kept}) > 1:
        raise ValueError("ebay_summary takes the ratings of one ratee")
    counts = {name: _count(kept, now - span) for name, span in PERIODS.items()}
    year = counts["12m"]
    rated = year["positive"] + year["negative"]
    percent = round(100.0 * year["positive"] / rated, 1) if rated else None
    return EbaySummary(_feedback_score(kept), percent, counts, _detailed(kept, now - PERIODS["12m"], direction))


def with_rating(summary: EbaySummary, rating: Rating, now: datetime, *, rater_net_before: int) -> EbaySummary:
    """The summary with one more revealed rating, without rereading the ratee's history.

    `rater_net_before` is the sum of the rater's earlier revealed ratings of this ratee (the feedback
    score counts each rater once, by the sign of its net). The rating joins every period it falls
    in; the periods move on at the nightly recompute, which rebuilds the summary exactly.
    """
    counts = {name: dict(summary.counts.get(name, {"positive": 0, "neutral": 0, "negative": 0})) for name in PERIODS}
    kind = "positive" if rating.value > 0 else "negative" if rating.value < 0 else "neutral"
    for name, span in PERIODS.items():
        if rating.created_at >= now - span:
            counts[name][kind] = counts[name].get(kind, 0) + 1
    year = counts["12m"]
    rated = year["positive"] + year["negative"]
    percent = round(100.0 * year["positive"] / rated, 1) if rated else None

    def sign(net: int) -> int:
        return (net > 0) - (net < 0)

    score = summary.feedback_score + sign(rater_net_before + rating.value) - sign(rater_net_before)
    detailed = {criterion: dict(entry) for criterion, entry in summary.detailed.items()}
    if rating.created_at >= now - PERIODS["12m"]:
        for criterion, value in rating.scores.items():
            entry = detailed.setdefault(criterion, {"average": None, "count": 0})
            count = entry["count"]
            total = (entry["average"] or 0) * count + value
            entry["average"], entry["count"] = round(total / (count + 1), 2), count + 1
    return EbaySummary(score, percent, counts, dict(sorted(detailed.items())))
