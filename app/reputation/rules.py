"""Feedback rules and eBay-style scores (pure: no Flask, no database, no clock)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.reputation.trust import Rating

CRITERIA: dict[str, tuple[str, ...]] = {
    "buyer_to_vendor": ("item_as_described", "communication", "delivery_time", "price_honoured"),
    "vendor_to_buyer": ("paid_promptly", "communication"),
    "member_to_organiser": ("clarity", "fairness", "responsiveness"),
}
CRITERION_LABELS = {
    "item_as_described": "Item as described", "communication": "Communication", "delivery_time": "Delivery time",
    "price_honoured": "Price honoured", "paid_promptly": "Paid promptly", "clarity": "Clarity",
    "fairness": "Fairness", "responsiveness": "Responsiveness",
}  # fmt: skip
COMMENT_MAX = 1000  # characters
REPLY_MAX = 1000
PERIODS = {"1m": timedelta(days=30), "6m": timedelta(days=182), "12m": timedelta(days=365)}


def validate_feedback(direction: str, rating: Any, scores: Any, comment: Any) -> dict[str, list[str]]:
    """Return per-field problems with a feedback (empty when it is acceptable)."""
    errors: dict[str, list[str]] = {}
    if isinstance(rating, bool) or rating not in (1, 0, -1):
        errors["rating"] = ["Rating must be 1 (positive), 0 (neutral) or -1 (negative)."]
    allowed = CRITERIA.get(direction, ())
    if not isinstance(scores, Mapping):
        errors["scores"] = ["Scores must map criteria to whole numbers from 1 to 5."]
    else:
        for criterion, score in scores.items():
            if criterion not in allowed:
                errors.setdefault("scores", []).append(
                    f"'{criterion}' is not rated in this direction; use: {', '.join(allowed)}."
                )
            elif isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
                errors.setdefault("scores", []).append(f"{CRITERION_LABELS[criterion]} must be from 1 to 5.")
    errors.update({"comment": problems} if (problems := _text_problems(comment, COMMENT_MAX)) else {})
    return errors


def validate_reply(text: Any) -> list[str]:
    """Return the problems with a reply (empty when acceptable)."""
    if isinstance(text, str) and not text.strip():
        return ["Write a reply."]
    return _text_problems(text, REPLY_MAX)


def _text_problems(text: Any, limit: int) -> list[str]:
    if not isinstance(text, str):
        return ["Must be text."]
    if len(text) > limit:
        return [f"At most {limit:,} characters (this one has {len(text):,})."]
    if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in text):
        return ["Remove control characters."]
    return []


@dataclass(frozen=True)
class EbaySummary:
    feedback_score: int  # distinct raters: +1 for a net positive rater, -1 for a net negative one
    percent_positive_12m: float | None  # positives / (positives + negatives) over 12 months, in percent
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # period -> positive/neutral/negative
    detailed: dict[str, dict[str, float]] = field(default_factory=dict)  # criterion -> average, count


def ebay_summary(ratings: Iterable[Rating], now: datetime) -> EbaySummary:
    """eBay-style numbers for one ratee's revealed ratings."""
    ratings = list(ratings)
    net: dict[int, int] = {}
    for r in ratings:
        net[r.rater_id] = net.get(r.rater_id, 0) + r.value
    score = sum(1 if v > 0 else -1 if v < 0 else 0 for v in net.values())
    counts = {name: _count([r for r in ratings if now - r.created_at <= span]) for name, span in PERIODS.items()}
    year = counts["12m"]
    rated = year["positive"] + year["negative"]
    percent = round(100.0 * year["positive"] / rated, 1) if rated else None
    return EbaySummary(score, percent, counts, _detailed(ratings))


def _count(ratings: list[Rating]) -> dict[str, int]:
    return {
        "positive": sum(r.value > 0 for r in ratings),
        "neutral": sum(r.value == 0 for r in ratings),
        "negative": sum(r.value < 0 for r in ratings),
    }


def _detailed(ratings: list[Rating]) -> dict[str, dict[str, float]]:
    totals: dict[str, list[int]] = {}
    for r in ratings:
        for criterion, score in r.scores.items():
            totals.setdefault(criterion, []).append(score)
    return {c: {"average": round(sum(v) / len(v), 2), "count": len(v)} for c, v in sorted(totals.items())}
