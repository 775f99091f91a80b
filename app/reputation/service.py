"""Feedback use cases: who may rate whom, leaving, revising and replying, the double-blind reveal.

No Flask here. Only the parties of a settled pool rate each other: each charged member rates the
vendor and the organiser, the vendor rates each charged member, within 60 days of settlement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.accounts.models import User
from app.bids.service import award_of
from app.errors import Conflict, NotFound, ValidationFailed
from app.payments.models import Payment, PaymentStatus
from app.pools.fanout import notify_user
from app.pools.models import Pool, PoolStatus
from app.pools.service import get_pool
from app.reputation import rules, scores
from app.reputation.models import Feedback
from app.reputation.rules import Direction

WINDOW = timedelta(days=60)  # feedback opens at settlement and closes this long after
REVISION_WINDOW = timedelta(days=30)  # a rater may revise once, within this long of rating
RATEABLE_STATES = (PoolStatus.SETTLED, PoolStatus.DISPUTED, PoolStatus.COMPLETED, PoolStatus.REFUNDED)


class FeedbackClosed(Conflict):
    code = "feedback_window_closed"


class AlreadyRated(Conflict):
    code = "already_rated"


@dataclass(frozen=True)
class Party:
    ratee_id: int
    direction: Direction
    amount_minor: int  # the value of the transaction between them


def rateable(session: Session, pool: Pool, rater: User) -> list[Party]:
    """Whom the rater may rate in this pool (empty when not a party, or before settlement)."""
    award = award_of(session, pool.id)
    if pool.status not in RATEABLE_STATES or pool.settled_at is None or award is None:
        return []
    paid = {
        member: (vendor, amount)
        for member, vendor, amount in session.execute(
            select(Payment.member_id, Payment.vendor_id, Payment.amount_minor).where(
                Payment.pool_id == pool.id, Payment.status.in_([PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED])
            )
        )
    }
    parties: list[Party] = []
    if rater.id in paid:  # a member rates the vendor that served them, and the organiser
        vendor, amount = paid[rater.id]
        if vendor is not None:
            parties.append(Party(vendor, Direction.BUYER_TO_VENDOR, amount))
        if pool.organiser_id != rater.id:
            parties.append(Party(pool.organiser_id, Direction.MEMBER_TO_ORGANISER, amount))
    parties += [  # a winning vendor rates the members it served
        Party(member, Direction.VENDOR_TO_BUYER, amount)
        for member, (vendor, amount) in paid.items()
        if vendor == rater.id and member != rater.id
    ]
    return parties


def leave_feedback(
    session: Session,
    *,
    pool_id: int,
    rater: User,
    ratee_id: int,
    rating: int,
    scores_by_criterion: dict[str, int],
    comment: str,
    now: datetime,
) -> Feedback:
    """Rate another party of a settled pool; hidden until the other side rates or the window ends."""
    pool = get_pool(session, pool_id, rater)
    if ratee_id == rater.id:
        raise ValidationFailed("You cannot rate yourself.", {"ratee_id": ["You cannot rate yourself."]})
    party = next((p for p in rateable(session, pool, rater) if p.ratee_id == ratee_id), None)
    if party is None:
        raise NotFound("You have nobody to rate with that id in this pool.")
    if pool.settled_at is not None and now > pool.settled_at + WINDOW:
        raise FeedbackClosed("Feedback for this pool closed 60 days after it settled.")
    if find(session, pool.id, rater.id, ratee_id) is not None:
        raise AlreadyRated("You already rated them for this pool; you may revise your feedback once.")
    _validate(party.direction, rating, scores_by_criterion, comment)
    feedback = Feedback(
        pool_id=pool.id,
        rater_id=rater.id,
        ratee_id=ratee_id,
        direction=party.direction,
        rating=rating,
        scores=scores_by_criterion,
        comment=comment,
        amount_minor=party.amount_minor,
        created_at=now,
    )
    session.add(feedback)
    session.flush()
    counterpart = find(session, pool.id, ratee_id, rater.id)
    if counterpart is not None:  # both sides have rated: the blind lifts for both
        reveal(session, [feedback, counterpart], now=now)
    return feedback


def _validate(direction: str, rating: Any, by_criterion: Any, comment: Any) -> None:
    errors = rules.validate_feedback(direction, rating, by_criterion, comment)
    if errors:
        raise ValidationFailed("The feedback is invalid.", errors)


def find(session: Session, pool_id: int, rater_id: int, ratee_id: int) -> Feedback | None:
    return session.scalar(
        select(Feedback).where(
            Feedback.pool_id == pool_id, Feedback.rater_id == rater_id, Feedback.ratee_id == ratee_id
        )
    )


def revise(
    session: Session,
    *,
    feedback_id: int,
    rater: User,
    rating: int,
    scores_by_criterion: dict[str, int],
    comment: str,
    now: datetime,
) -> Feedback:
    """Change one's own feedback, once, within 30 days of leaving it."""
    feedback = session.get(Feedback, feedback_id)
    if feedback is None or feedback.rater_id != rater.id:
        raise NotFound("No such feedback.")
    if feedback.revised_at is not None:
        raise Conflict("Feedback can be revised only once.")
    if now > feedback.created_at + REVISION_WINDOW:
        raise FeedbackClosed("Feedback can be revised only within 30 days.")
    _validate(feedback.direction, rating, scores_by_criterion, comment)
    feedback.rating, feedback.scores, feedback.comment, feedback.revised_at = rating, scores_by_criterion, comment, now
    if feedback.revealed_at is not None:
        scores.refresh(session, [feedback.ratee_id], now=now)
    return feedback


def reply(session: Session, *, feedback_id: int, ratee: User, text: str, now: datetime) -> Feedback:
    """The ratee answers revealed feedback publicly, once."""
    feedback = session.get(Feedback, feedback_id)
    if feedback is None or feedback.ratee_id != ratee.id or feedback.revealed_at is None:
        raise NotFound("No such feedback.")
    if feedback.reply is not None:
        raise Conflict("You have already replied to this feedback.")
    errors = rules.validate_reply(text)
    if errors:
        raise ValidationFailed("The reply is invalid.", {"reply": errors})
    feedback.reply, feedback.replied_at = text, now
    return feedback


def reveal(session: Session, feedback: list[Feedback], *, now: datetime) -> None:
    """Make feedback public and refresh its ratees' scores."""
    newly = [item for item in feedback if item.revealed_at is None]
    for item in newly:
        item.revealed_at = now
    session.flush()
    for item in newly:
        pool = session.get(Pool, item.pool_id)
        assert pool is not None
        notify_user(
            session,
            item.ratee_id,
            pool,
            "feedback_received",
            f"You received feedback on “{pool.title}”. It is on your profile now.",
            now,
        )
    scores.add_revealed(session, newly, now=now)


def reveal_expired(session: Session, *, now: datetime, limit: int = 5000) -> int:
    """Reveal feedback whose window ended without the other side rating (the scheduler's job)."""
    query = (
        select(Feedback)
        .join(Pool, Pool.id == Feedback.pool_id)
        .where(Feedback.revealed_at.is_(None), Pool.settled_at <= now - WINDOW)
        .limit(limit)
    )
    due = list(session.scalars(query))
    if due:
        reveal(session, due, now=now)
    return len(due)


def visible_feedback(
    session: Session, *, ratee_id: int, viewer: User | None, page: int, per_page: int = 20
) -> list[Feedback]:
    """A page of the feedback a user received that the viewer may see (revealed, newest first)."""
    query = (
        select(Feedback)
        .where(Feedback.ratee_id == ratee_id, Feedback.revealed_at.is_not(None))
        .order_by(Feedback.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(session.scalars(query.options(joinedload(Feedback.rater))))


def my_feedback(session: Session, *, pool_id: int, rater: User) -> list[Feedback]:
    """What the rater has left in this pool (they always see their own, hidden or not)."""
    query = select(Feedback).where(Feedback.pool_id == pool_id, Feedback.rater_id == rater.id)
    return list(session.scalars(query))
