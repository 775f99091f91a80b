"""A user's reputation as pages and the API show it: cached scores, or the empty state, with its level."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.accounts.vendors import identity_roots
from app.clock import utcnow
from app.reputation import trust as model
from app.reputation.models import ReputationScore
from app.reputation.standing import Standing, lost_disputes, standing_of


@dataclass(frozen=True)
class ReputationView:
    user_id: int
    trust: float
    feedback_score: int = 0
    percent_positive_12m: float | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    detailed: dict[str, Any] = field(default_factory=dict)
    standing: Standing | None = None

    @property
    def level(self) -> str | None:
        return self.standing.level if self.standing and self.standing.level else None

    @property
    def level_reason(self) -> str:
        return self.standing.reason if self.standing else ""

    @property
    def trust_explained(self) -> str:
        return self.standing.trust_explained if self.standing else ""


def reputation_view(session: Session, user_id: int, now: datetime | None = None) -> ReputationView:
    """The user's cached reputation; a user nobody has rated gets the model's prior trust."""
    root = identity_roots(session, [user_id])[user_id]  # linked accounts share their identity's reputation
    row = session.get(ReputationScore, root)
    lost = lost_disputes(session, [root], now=now or utcnow()).get(root, 0)
    if row is None:
        where = standing_of(user_id, model.DEFAULT.prior_mean, None, lost)
        return ReputationView(user_id, model.DEFAULT.prior_mean, standing=where)
    where = standing_of(user_id, row.trust, row.counts, lost)
    return ReputationView(
        user_id, row.trust, row.feedback_score, row.percent_positive_12m, row.counts or {}, row.detailed or {}, where
    )
