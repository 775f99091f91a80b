"""Where vendors stand: their level (app.reputation.levels) from cached trust, ratings and lost disputes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import VendorProfile
from app.payments.models import Dispute, DisputeOutcome
from app.reputation import levels
from app.reputation import trust as model
from app.reputation.models import ReputationScore


@dataclass(frozen=True)
class Standing:
    """A vendor's level and the numbers behind it, for a badge and its one-sentence reason."""

    user_id: int
    trust: float
    ratings_12m: int
    lost_disputes: int
    level: levels.SellerLevel | None

    @property
    def label(self) -> str:
        return levels.LABELS[self.level] if self.level else ""

    @property
    def reason(self) -> str:
        return levels.level_reason(self.level, self.trust, self.ratings_12m, self.lost_disputes)

    @property
    def trust_explained(self) -> str:
        return levels.trust_sentence(self.trust, self.ratings_12m)


def standings(session: Session, user_ids: Iterable[int], *, now: datetime) -> dict[int, Standing]:
    """Each user's standing, in two queries whatever their number."""
    ids = set(user_ids)
    if not ids:
        return {}
    query = select(ReputationScore.user_id, ReputationScore.trust, ReputationScore.counts)
    scores = {
        user_id: (trust, counts)
        for user_id, trust, counts in session.execute(query.where(ReputationScore.user_id.in_(ids)))
    }
    lost = lost_disputes(session, ids, now=now)
    return {
        user_id: standing_of(user_id, *scores.get(user_id, (model.DEFAULT.prior_mean, None)), lost.get(user_id, 0))
        for user_id in ids
    }


def lost_disputes(session: Session, identities: Iterable[int], *, now: datetime) -> dict[int, int]:
    """How many disputes each identity's accounts lost (refunded in whole or in part) in the levels' recent days."""
    since = now - timedelta(days=levels.RULES.dispute_days)
    identity = func.coalesce(VendorProfile.identity_root_id, Dispute.vendor_id)
    query = (
        select(identity, func.count(Dispute.id))
        .outerjoin(VendorProfile, VendorProfile.user_id == Dispute.vendor_id)
        .where(
            identity.in_(set(identities)),
            Dispute.outcome.in_([DisputeOutcome.REFUND, DisputeOutcome.PARTIAL]),
            Dispute.resolved_at >= since,
        )
        .group_by(identity)
    )
    return {vendor_id: count for vendor_id, count in session.execute(query)}


def standing_of(user_id: int, trust: float, counts: dict[str, Any] | None, lost: int) -> Standing:
    """A standing from a user's cached trust and period counts and its disputes lost lately."""
    year = (counts or {}).get("12m", {})
    rated = sum(year.get(kind, 0) for kind in ("positive", "neutral", "negative"))
    return Standing(user_id, trust, rated, lost, levels.seller_level(trust, rated, lost))
