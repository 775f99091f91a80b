"""Review disputes: a ratee flags a feedback it received; an operator upholds or rejects the flag.

An upheld flag removes the feedback from every score (its ratee is reread at once, and the nightly
recompute never counts it) and shows it as removed, with the reason. Only the ratee of a revealed
feedback may flag it, once; the rater revises instead. Flags are limited to FLAGS_PER_DAY per
account, counted in the database so that the limit holds across processes. Operators are the
dispute operators (`flask --app wsgi users grant-disputes`). No Flask here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from app import audit
from app.accounts.models import User
from app.errors import Conflict, NotFound, TooMany, ValidationFailed
from app.reputation import scores
from app.reputation.models import Feedback, FeedbackFlag, FlagReason, FlagStatus
from app.text import control_characters

FLAGS_PER_DAY = 5
NOTE_MAX_LENGTH = 500
REASON_LABELS = {
    FlagReason.RETALIATORY: "retaliatory",
    FlagReason.ABUSIVE: "abusive",
    FlagReason.OFF_TOPIC: "off topic",
}


def note_errors(note: str) -> list[str]:
    if len(note) > NOTE_MAX_LENGTH:
        return [f"Keep the note to {NOTE_MAX_LENGTH} characters; this one has {len(note):,}."]
    if control_characters(note, multiline=True):
        return ["Remove the control characters (such as NUL); line breaks are fine."]
    return []


def flag_feedback(
    session: Session, *, feedback_id: int, flagger: User, reason: FlagReason, note: str, now: datetime
) -> FeedbackFlag:
    """Flag a revealed feedback the flagger received, for an operator to decide."""
    feedback = session.get(Feedback, feedback_id)
    if feedback is None or feedback.revealed_at is None:
        raise NotFound("No such feedback.")
    if feedback.rater_id == flagger.id:
        raise Conflict("You wrote this feedback: revise it instead of flagging it.")
    if feedback.ratee_id != flagger.id:
        raise NotFound("No such feedback.")  # only its ratee flags it; to others it is not theirs to act on
    note = note.strip()
    if problems := note_errors(note):
        raise ValidationFailed(problems[0], {"note": problems})
    if session.scalar(select(FeedbackFlag.id).where(FeedbackFlag.feedback_id == feedback.id)) is not None:
        raise Conflict("You already flagged this feedback; an operator decides each flag once.")
    recent = select(func.count(FeedbackFlag.id)).where(
        FeedbackFlag.flagged_by == flagger.id, FeedbackFlag.created_at > now - timedelta(days=1)
    )
    if (session.scalar(recent) or 0) >= FLAGS_PER_DAY:
        raise TooMany(f"You can flag at most {FLAGS_PER_DAY} feedbacks a day; try again tomorrow.")
    flag = FeedbackFlag(feedback_id=feedback.id, flagged_by=flagger.id, reason=reason, note=note, created_at=now)
    session.add(flag)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # the same flag sent twice at once: the unique index keeps one
        raise Conflict("You already flagged this feedback; an operator decides each flag once.") from None
    audit.record(session, action="feedback.flag", subject=flag, actor_id=flagger.id, now=now,
                 after={"feedback_id": feedback.id, "reason": str(reason)})  # fmt: skip
    return flag


def open_flags(session: Session, operator: User, limit: int = 100) -> list[FeedbackFlag]:
    """The operators' queue: open flags, oldest first."""
    _require_operator(operator)
    query = (
        select(FeedbackFlag)
        .where(FeedbackFlag.status == FlagStatus.OPEN)
        .options(joinedload(FeedbackFlag.feedback).joinedload(Feedback.rater))
        .order_by(FeedbackFlag.created_at, FeedbackFlag.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def decide_flag(session: Session, *, flag_id: int, operator: User, uphold: bool, now: datetime) -> FeedbackFlag:
    """Uphold (remove the feedback from scores and show it removed) or reject a flag, once."""
    _require_operator(operator)
    flag = session.scalar(select(FeedbackFlag).where(FeedbackFlag.id == flag_id).with_for_update())
    if flag is None:
        raise NotFound("No such flag.")
    if flag.status != FlagStatus.OPEN:
        raise Conflict(f"This flag was already decided ({flag.status}).")
    feedback = flag.feedback
    if operator.id in (feedback.rater_id, feedback.ratee_id):
        raise Conflict("You are a party to this feedback; another operator decides it.")
    flag.status = FlagStatus.UPHELD if uphold else FlagStatus.REJECTED
    flag.decided_by, flag.decided_at = operator.id, now
    if uphold:
        feedback.removed_at = now
        session.flush()
        scores.refresh(session, [feedback.ratee_id], now=now)  # a tally cannot take a rating back: reread
    audit.record(session, action="feedback.flag_decided", subject=flag, actor_id=operator.id, now=now,
                 after={"status": str(flag.status), "feedback_id": feedback.id})  # fmt: skip
    return flag


def _require_operator(user: User) -> None:
    if not user.is_dispute_operator:
        raise NotFound("No such page.")
