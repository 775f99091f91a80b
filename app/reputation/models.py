"""Feedback between the parties of a settled pool, and each user's cached reputation."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.db.base import Base
from app.db.types import StrEnumType
from app.reputation.rules import Direction


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("pool_id", "rater_id", "ratee_id"),
        Index("ix_feedback_ratee_id_revealed_at", "ratee_id", "revealed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    ratee_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    direction: Mapped[Direction] = mapped_column(StrEnumType(Direction, 24))
    rating: Mapped[int]  # +1 positive, 0 neutral, -1 negative
    scores: Mapped[Any] = mapped_column(JSON)  # {criterion: 1..5}
    comment: Mapped[str] = mapped_column(Text, default="")  # plain text, rendered escaped
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # the transaction's value, weights the rating
    reply: Mapped[str | None] = mapped_column(Text)  # the ratee's one public reply
    replied_at: Mapped[datetime | None]
    revised_at: Mapped[datetime | None]  # the rater's one revision
    created_at: Mapped[datetime]
    revealed_at: Mapped[datetime | None]  # hidden (double-blind) until both sides rated or the window ended
    removed_at: Mapped[datetime | None]  # an operator upheld a flag on it: out of every score, shown as removed

    rater: Mapped[User] = relationship(foreign_keys=[rater_id])
    ratee: Mapped[User] = relationship(foreign_keys=[ratee_id])
    flag: Mapped[FeedbackFlag | None] = relationship(viewonly=True, lazy="selectin", uselist=False)


class FlagReason(StrEnum):
    RETALIATORY = "retaliatory"  # left to punish, e.g. for the ratee's own honest feedback or a dispute
    ABUSIVE = "abusive"  # insults, threats, personal details
    OFF_TOPIC = "off_topic"  # not about this trade


class FlagStatus(StrEnum):
    OPEN = "open"  # in the operators' queue (/admin/feedback-flags)
    UPHELD = "upheld"  # the feedback is removed
    REJECTED = "rejected"  # the feedback stays


class FeedbackFlag(Base):
    """A ratee's flag on a feedback it received: an operator decides it (app.reputation.flags)."""

    __tablename__ = "feedback_flags"
    __table_args__ = (Index("ix_feedback_flags_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("feedback.id"), unique=True)  # one flag per feedback
    flagged_by: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[FlagReason] = mapped_column(StrEnumType(FlagReason, 16))
    note: Mapped[str] = mapped_column(Text, default="")  # at most 500 characters
    status: Mapped[FlagStatus] = mapped_column(StrEnumType(FlagStatus, 10), default=FlagStatus.OPEN)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    feedback: Mapped[Feedback] = relationship(viewonly=True)


class ReputationScore(Base):
    """A user's reputation as last computed: what profiles, pool pages and bid checks read."""

    __tablename__ = "reputation_scores"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    trust: Mapped[float]  # in [0, 1], the Bayesian trust model (docs/trust-model.md)
    credibility: Mapped[float | None]  # the weight of this user's ratings of others (last full recompute)
    feedback_score: Mapped[int]  # distinct raters, positives minus negatives (eBay-style)
    percent_positive_12m: Mapped[float | None]  # None without rated feedback in 12 months
    counts: Mapped[Any] = mapped_column(
        JSON
    )  # {"1m": {"positive": n, "neutral": n, "negative": n}, "6m": ..., "12m": ...}
    detailed: Mapped[Any] = mapped_column(JSON)  # {criterion: {"average": x, "count": n}}
    computed_at: Mapped[datetime]
    # The trust model's decayed evidence as of tally_as_of (app.reputation.trust.TrustTally): a newly
    # revealed feedback is added to it in O(1). None until the ratee's first refresh or recompute.
    tally_as_of: Mapped[datetime | None]
    tally_pos: Mapped[float] = mapped_column(default=0.0)
    tally_neg: Mapped[float] = mapped_column(default=0.0)
    tally_recent_pos: Mapped[float] = mapped_column(default=0.0)
    tally_recent_neg: Mapped[float] = mapped_column(default=0.0)

    user: Mapped[User] = relationship()
