"""Seller levels: the "Top rated" and "Below standard" badges, and the words that explain trust. Pure.

Published thresholds (docs/trust-model.md, "Seller levels"): a vendor is
- **Top rated** with trust of at least 0.80, at least 10 ratings received in 12 months and no
  dispute lost (refunded in whole or in part) in 90 days;
- **Below standard** with at least 5 ratings received in 12 months and trust below 0.30, or with 2
  or more disputes lost in 90 days;
- neither otherwise (most vendors, and every new one).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SellerLevel(StrEnum):
    TOP_RATED = "top_rated"
    BELOW_STANDARD = "below_standard"


LABELS = {SellerLevel.TOP_RATED: "Top rated", SellerLevel.BELOW_STANDARD: "Below standard"}


@dataclass(frozen=True)
class LevelRules:
    top_min_trust: float = 0.80
    top_min_ratings: int = 10  # ratings received (revealed) in the last 12 months
    below_max_trust: float = 0.30  # below this, with enough ratings to mean it
    below_min_ratings: int = 5
    below_lost_disputes: int = 2  # disputes lost in the last 90 days
    dispute_days: int = 90


RULES = LevelRules()


def seller_level(trust: float, ratings_12m: int, lost_disputes: int, rules: LevelRules = RULES) -> SellerLevel | None:
    """The vendor's level from its trust, its buyer ratings in 12 months and its disputes lost lately."""
    if lost_disputes >= rules.below_lost_disputes or (
        ratings_12m >= rules.below_min_ratings and trust < rules.below_max_trust
    ):
        return SellerLevel.BELOW_STANDARD
    if trust >= rules.top_min_trust and ratings_12m >= rules.top_min_ratings and lost_disputes == 0:
        return SellerLevel.TOP_RATED
    return None


def level_reason(level: SellerLevel | None, trust: float, ratings_12m: int, lost_disputes: int) -> str:
    """One sentence saying why the vendor has its level (or none)."""
    if level == SellerLevel.TOP_RATED:
        return f"Top rated: trust {trust:.2f} from {ratings_12m} ratings in 12 months, and no dispute lost in 90 days."
    if level == SellerLevel.BELOW_STANDARD:
        if lost_disputes >= RULES.below_lost_disputes:
            return f"Below standard: {lost_disputes} disputes lost (refunded) in the last 90 days."
        return f"Below standard: trust {trust:.2f} after {ratings_12m} ratings in 12 months."
    return ""


def trust_sentence(trust: float, rated: int) -> str:
    """What the trust number means, next to it: it is not a percentage of positive ratings."""
    start = "A new account starts at 0.10 and rises with good trades; " if rated < 3 else ""
    return (
        f"{start}trust (0–1) estimates how likely a trade goes well, weighing each rating by what the "
        "rater bought, how established the rater is and how recent it is, so it can sit far below "
        "the percent positive."
    )
