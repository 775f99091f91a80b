"""A user's reputation as pages and the API show it: cached scores, or the empty state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.reputation import trust as model
from app.reputation.models import ReputationScore


@dataclass(frozen=True)
class ReputationView:
    user_id: int
    trust: float
    feedback_score: int = 0
    percent_positive_12m: float | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    detailed: dict[str, Any] = field(default_factory=dict)


def reputation_view(session: Session, user_id: int) -> ReputationView:
    """The user's cached reputation; a user nobody has rated gets the model's prior trust."""
    row = session.get(ReputationScore, user_id)
    if row is None:
        return ReputationView(user_id, model.DEFAULT.prior_mean)
    return ReputationView(
        user_id, row.trust, row.feedback_score, row.percent_positive_12m, row.counts or {}, row.detailed or {}
    )
