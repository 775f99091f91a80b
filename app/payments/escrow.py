"""Escrow per served line: delivery, release, disputes and their outcomes. No Flask here.

A line is one member's payment to the pool's winning vendor (app.payments.models.Payment). Its
money is held until that member confirms delivery (or the organiser, where delivery goes to the
organiser), until its dispute window passes with no dispute open, or until a dispute decides.
One person's word moves only the line that is theirs.

Every transition locks the pool first and then the line (one order everywhere, so two workers
never deadlock), checks the state it expects, changes nothing when repeated, writes an
AuditEvent and tells each party. Moving money to the provider (refunds, transfers) happens
after the commit, in app.payments.jobs; what is decided here is written first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.accounts.models import User
from app.db.bulk import in_values, update_rows
from app.errors import Conflict, NotFound, ValidationFailed
from app.money import format_minor
from app.payments import ledger
from app.payments.models import (
    Dispute,
    DisputeMessage,
    DisputeOutcome,
    DisputeRole,
    DisputeStage,
    Payment,
    PaymentStatus,
    ReleasedBy,
)
from app.payments.rules import (
    AN_OPEN_DISPUTE,
    EscrowTerms,
    LineState,
    fee_minor,
    line_state,
    pool_status_from_lines,
    releasable_minor,
)
from app.pools.fanout import notify_each, notify_user
from app.pools.models import Pool, PoolStatus

ESCROW_STATES = (PoolStatus.SETTLED, PoolStatus.DISPUTED)


# Reading ------------------------------------------------------------------------------------


def lines_of(session: Session, pool_id: int) -> list[Payment]:
    """The pool's lines in order."""
    return list(session.scalars(select(Payment).where(Payment.pool_id == pool_id).order_by(Payment.id)))


def disputes_of(session: Session, pool_id: int) -> dict[int, Dispute]:
    """The pool's disputes by line (payment id)."""
    return {d.payment_id: d for d in session.scalars(select(Dispute).where(Dispute.pool_id == pool_id))}


def line_of(session: Session, pool_id: int, member_id: int) -> Payment | None:
    """The member's line in the pool, if they were served."""
    return session.scalar(select(Payment).where(Payment.pool_id == pool_id, Payment.member_id == member_id))


def dispute_of(session: Session, payment_id: int) -> Dispute | None:
    return session.scalar(select(Dispute).where(Dispute.payment_id == payment_id))


@dataclass(frozen=True)
class LineView:
    """A line with its state and dispute, as pages and the API show it."""

    line: Payment
    state: LineState
    dispute: Dispute | None

    @property
    def id(self) -> int:
        return self.line.id

    @property
    def pool_id(self) -> int:
        return self.line.pool_id

    @property
    def member_id(self) -> int:
        return self.line.member_id

    @property
    def vendor_id(self) -> int | None:
        return self.line.vendor_id

    @property
    def dispute_id(self) -> int | None:
        return self.dispute.id if self.dispute is not None else None


def sees_every_line(pool: Pool, viewer: User) -> bool:
    return pool.is_organised_by(viewer) or viewer.is_admin or viewer.is_dispute_operator


def line_views(session: Session, pool: Pool, viewer: User) -> list[LineView]:
    """The pool's lines the viewer may see: the organiser and operators all, a member their own,
    a vendor those it sold."""
    disputes = disputes_of(session, pool.id)
    everything = sees_every_line(pool, viewer)
    return [
        LineView(line, line_state(line, disputes.get(line.id)), disputes.get(line.id))
        for line in lines_of(session, pool.id)
        if everything or viewer.id in (line.member_id, line.vendor_id)
    ]


def role_in(dispute: Dispute, pool: Pool, user: User) -> DisputeRole | None:
    """How `user` takes part in the dispute: member, vendor, organiser, operator, or not at all."""
    if user.id == dispute.member_id:
        return DisputeRole.MEMBER
    if user.id == dispute.vendor_id:
        return DisputeRole.VENDOR
    if pool.is_organised_by(user):
        return DisputeRole.ORGANISER
    if user.is_dispute_operator:
        return DisputeRole.OPERATOR
    return None


def dispute_for(session: Session, dispute_id: int, user: User) -> tuple[Dispute, Pool, DisputeRole]:
    """A dispute `user` may see, its pool and the user's role; anyone else is told it does not exist."""
    dispute = session.get(Dispute, dispute_id)
    pool = session.get(Pool, dispute.pool_id) if dispute is not None else None
    role = role_in(dispute, pool, user) if dispute is not None and pool is not None else None
    if dispute is None or pool is None or role is None:
        raise NotFound("No such dispute.")
    if role == DisputeRole.OPERATOR and dispute.escalated_at is None:
        raise NotFound("No such dispute.")  # operators see a dispute once it was theirs to decide
    return dispute, pool, role


def escalated_disputes(session: Session) -> list[Dispute]:
    """The operators' queue: escalated disputes, oldest escalation first."""
    query = select(Dispute).where(Dispute.stage == DisputeStage.ESCALATED)
    return list(session.scalars(query.order_by(Dispute.escalated_at, Dispute.id)))


def disputes_involving(session: Session, user: User) -> list[Dispute]:
    """Disputes where the user is the member or the vendor, newest first."""
    query = select(Dispute).where((Dispute.member_id == user.id) | (Dispute.vendor_id == user.id))
    return list(session.scalars(query.order_by(Dispute.id.desc())))


# Locks ----------------------------------------------------------------------------------------


def lock_pool(session: Session, pool_id: int) -> Pool:
    query = select(Pool).where(Pool.id == pool_id).with_for_update()
    pool = session.scalar(query.execution_options(populate_existing=True))
    if pool is None:
        raise NotFound("No such pool.")
    return pool


def _lock_lines(session: Session, pool_id: int, *conditions: object) -> list[Payment]:
    query = select(Payment).where(Payment.pool_id == pool_id, *conditions).order_by(Payment.id)  # type: ignore[arg-type]
    return list(session.scalars(query.with_for_update().execution_options(populate_existing=True)))


def _lock_dispute(session: Session, dispute_id: int, user: User) -> tuple[Dispute, Pool, Payment, DisputeRole]:
    """Lock the dispute's pool, line and dispute (in that order) for a transition by `user`."""
    dispute, pool, role = dispute_for(session, dispute_id, user)
    pool = lock_pool(session, pool.id)
    (line,) = _lock_lines(session, pool.id, Payment.id == dispute.payment_id)
    query = select(Dispute).where(Dispute.id == dispute.id).with_for_update()
    locked = session.scalar(query.execution_options(populate_existing=True))
    assert locked is not None
    return locked, pool, line, role


# Delivery and release ----------------------------------------------------------------------------


def confirm_delivery(
    session: Session,
    *,
    pool_id: int,
    actor: User,
    terms: EscrowTerms,
    now: datetime,
    member_id: int | None = None,
    everyone: bool = False,
) -> list[Payment]:
    """Release a line to its vendor because its delivery is confirmed; return the lines released.

    A charged member confirms their own line (which also closes their open dispute, if any, in
    the vendor's favour). The organiser may confirm for members only when the pool's delivery
    goes to the organiser: one member's line (`member_id`), or (`everyone`) every held line
    without an open dispute. Nobody's confirmation moves another member's money otherwise.
    """
    pool = lock_pool(session, pool_id)
    own = not everyone and (member_id is None or member_id == actor.id)
    mine = line_of(session, pool.id, actor.id) if own else None
    if own and mine is not None and mine.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
        lines, by = _lock_lines(session, pool.id, Payment.id == mine.id), ReleasedBy.MEMBER
    elif pool.is_organised_by(actor) and pool.delivery_to_organiser:
        which = [Payment.member_id == member_id] if member_id is not None else []
        lines, by = (
            _lock_lines(session, pool.id, Payment.status == PaymentStatus.SUCCEEDED, *which),
            ReleasedBy.ORGANISER,
        )
        if member_id is not None and not lines:
            raise NotFound("That member has no charged line in this pool.")
    else:
        raise NotFound("You have no charged line in this pool.")
    if pool.status not in ESCROW_STATES:
        raise Conflict(f"Delivery can be confirmed once the pool is settled; it is {pool.status}.")
    released = []
    for line in lines:
        dispute = dispute_of(session, line.id)
        if dispute is not None and dispute.is_open:
            if by == ReleasedBy.MEMBER:  # the member is satisfied after all: their dispute ends
                _resolve(session, pool, line, dispute, DisputeOutcome.RELEASE, 0, actor, terms, now)
                released.append(line)
            elif member_id is not None:
                raise Conflict("That member's line is in dispute: the dispute decides it.")
            continue
        if line.released_at is not None or releasable_minor(line) <= 0:
            if not everyone:
                raise Conflict(f"This line is already settled: {line_state(line, dispute).label}")
            continue
        release_line(session, pool, line, terms, by=by, actor_id=actor.id, now=now)
        released.append(line)
    sync_pool_status(session, pool, now=now)
    return released


def release_line(
    session: Session, pool: Pool, line: Payment, terms: EscrowTerms, *, by: str, actor_id: int | None, now: datetime
) -> int:
    """Release what the (locked) line holds, less decided refunds, to its vendor; return the amount."""
    return release_lines(session, {pool.id: pool}, [line], terms, by=by, actor_id=actor_id, now=now)


RELEASE_REASONS = {
    ReleasedBy.MEMBER: "you confirmed delivery",
    ReleasedBy.ORGANISER: "the organiser confirmed the collection",
    ReleasedBy.WINDOW: "the dispute window ended with no dispute open",
    ReleasedBy.DISPUTE: "your dispute was resolved",
}


def release_lines(
    session: Session,
    pools: Mapping[int, Pool],
    lines: Sequence[Any],
    terms: EscrowTerms,
    *,
    by: str,
    actor_id: int | None,
    now: datetime,
) -> int:
    """Release what each (locked) line holds, less decided refunds, to its vendor; return the total.

    `lines` are Payment objects or rows with their columns, of the (locked) `pools`. One posting
    per line (escrow to the vendor's payable and the platform's fee), an AuditEvent and a notice to
    its member, written in batches: the window sweep costs a few statements per batch of pools. A
    line released before is left alone. The payout sweep then pays released lines in batches.
    """
    session.flush()  # the lines' pending changes (a decided refund) are written before the update below
    fresh = [line for line in lines if line.released_at is None]
    changes, events, postings, told = [], [], [], []
    for line in fresh:
        pool = pools[line.pool_id]
        amount = releasable_minor(line)
        fee = fee_minor(amount, terms.fee_bps)
        changes.append(
            {
                "id": line.id,
                "released_minor": amount,
                "fee_minor": fee,
                "released_at": now,
                "released_by": by,
                "updated_at": now,
            }
        )
        held = amount + line.refund_due_minor - line.refunded_minor
        after = {"released_minor": amount, "fee_minor": fee, "by": by}
        events.append((pool.id, line.id, {"held_minor": held}, after))
        if amount > 0:
            postings.append(
                ledger.Posting(
                    pool_id=pool.id,
                    key=f"payment-{line.id}-released",
                    currency=line.currency,
                    memo=f"line of member {line.member_id} released to vendor {line.vendor_id}, less the platform fee",
                    legs=[(ledger.ESCROW, -amount), (ledger.VENDOR_PAYABLE, amount - fee), (ledger.PLATFORM_FEE, fee)],
                    payment_id=line.id,
                )
            )
            words = (
                f"{format_minor(amount, line.currency)} of your payment for “{pool.title}” was released to the "
                f"vendor: {RELEASE_REASONS[ReleasedBy(by)]}."
            )
            told.append((pool, line.member_id, "released", words))
    update_rows(session, Payment, changes)
    audit.record_rows(session, action="line.release", subject_type="payment", events=events, actor_id=actor_id, now=now)
    for line in fresh:
        if isinstance(line, Payment):
            session.expire(line)  # written above, past the ORM: read again when next used
    ledger.post_many(session, postings, now=now, keys_are_new=True)  # released_at was unset under the lock
    notify_each(session, told, now)
    return sum(change["released_minor"] for change in changes)


def release_due_lines(session: Session, *, terms: EscrowTerms, now: datetime, pool_ids: Sequence[int]) -> int:
    """Release every line of these pools whose dispute window passed with no dispute open.

    Pools another worker holds are skipped (SKIP LOCKED): it releases them, or the next sweep does.
    A line released already is left alone, so two schedulers pay each line once.
    """
    query = select(Pool).where(Pool.id.in_(pool_ids), Pool.status.in_(ESCROW_STATES)).order_by(Pool.id)
    pools = session.scalars(query.with_for_update(skip_locked=True).execution_options(populate_existing=True)).all()
    if not pools:
        return 0
    ids = [pool.id for pool in pools]
    open_disputes = select(Dispute.payment_id).where(
        in_values(session, Dispute.pool_id, ids), Dispute.stage != DisputeStage.RESOLVED
    )
    due = session.execute(
        select(*_LINE_COLUMNS)
        .where(
            in_values(session, Payment.pool_id, ids),
            Payment.status == PaymentStatus.SUCCEEDED,
            Payment.released_at.is_(None),
            Payment.dispute_until <= now,
            Payment.id.not_in(open_disputes),
        )
        .order_by(Payment.id)
        .with_for_update()
    ).all()
    release_lines(session, {pool.id: pool for pool in pools}, due, terms, by=ReleasedBy.WINDOW, actor_id=None, now=now)
    sync_pools(session, pools, now=now)
    return len(due)


def pools_with_due_lines(session: Session, *, now: datetime, limit: int) -> list[int]:
    """Pools with a line whose window passed and that is not released yet, in id order."""
    query = (
        select(Payment.pool_id)
        .where(Payment.status == PaymentStatus.SUCCEEDED, Payment.released_at.is_(None), Payment.dispute_until <= now)
        .distinct()
        .order_by(Payment.pool_id)
        .limit(limit)
    )
    return list(session.scalars(query))


_LINE_COLUMNS = (  # what a line's state and its release read: rows, not ORM objects, for a whole pool
    Payment.id,
    Payment.pool_id,
    Payment.member_id,
    Payment.vendor_id,
    Payment.status,
    Payment.amount_minor,
    Payment.currency,
    Payment.refunded_minor,
    Payment.refund_due_minor,
    Payment.released_minor,
    Payment.fee_minor,
    Payment.released_at,
    Payment.paid_out_at,
    Payment.dispute_until,
)


def sync_pool_status(session: Session, pool: Pool, *, now: datetime) -> PoolStatus:
    """Set the (locked) settled pool's status from its lines: disputed, settled, completed or refunded."""
    sync_pools(session, [pool], now=now)
    return PoolStatus(pool.status)


def sync_pools(session: Session, pools: Sequence[Pool], *, now: datetime) -> None:
    """sync_pool_status for many locked pools: one read of their lines and one of their open disputes."""
    settled = {pool.id: pool for pool in pools if pool.status in ESCROW_STATES}
    if not settled:
        return
    open_disputes = set(
        session.scalars(
            select(Dispute.payment_id).where(
                in_values(session, Dispute.pool_id, settled), Dispute.stage != DisputeStage.RESOLVED
            )
        )
    )
    states: dict[int, list[LineState]] = {pool_id: [] for pool_id in settled}
    rows = session.execute(select(*_LINE_COLUMNS).where(in_values(session, Payment.pool_id, settled)))
    for row in rows:
        states[row.pool_id].append(line_state(row, AN_OPEN_DISPUTE if row.id in open_disputes else None))
    for pool_id, pool in settled.items():
        status = pool_status_from_lines(states[pool_id])
        if status == pool.status:
            continue
        before, pool.status, pool.updated_at = pool.status, status, now
        if status in (PoolStatus.COMPLETED, PoolStatus.REFUNDED):
            pool.completed_at = now
        audit.record(
            session,
            action="pool.lines",
            subject=pool,
            actor_id=None,
            now=now,
            pool_id=pool.id,
            before={"status": before},
            after={"status": str(status)},
        )


def lock_pools(session: Session, pool_ids: Sequence[int]) -> list[Pool]:
    """Lock these pools in id order (one order for every worker: no deadlocks)."""
    query = select(Pool).where(in_values(session, Pool.id, sorted(set(pool_ids)))).order_by(Pool.id)
    return list(session.scalars(query.with_for_update().execution_options(populate_existing=True)))


# Disputes --------------------------------------------------------------------------------------

REASONS = {
    "not_delivered": "not delivered",
    "not_as_described": "not as described",
    "partial": "only part of it arrived",
}


def open_dispute(
    session: Session, *, pool_id: int, actor: User, reason: str, message: str, terms: EscrowTerms, now: datetime
) -> Dispute:
    """A charged member disputes their own line before its window ends: its money stays held."""
    pool = lock_pool(session, pool_id)
    mine = line_of(session, pool.id, actor.id)
    if mine is None or mine.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
        raise NotFound("You have no charged line in this pool.")
    (line,) = _lock_lines(session, pool.id, Payment.id == mine.id)
    existing = dispute_of(session, line.id)
    if existing is not None:
        if existing.is_open:
            return existing
        raise Conflict("Your dispute of this line was resolved already; a line is disputed once.")
    if line.released_at is not None or releasable_minor(line) <= 0:
        raise Conflict(f"This line is already settled: {line_state(line).label}")
    if line.dispute_until is not None and now >= line.dispute_until:
        raise Conflict(f"The dispute window for this line closed on {line.dispute_until:%d %b %Y %H:%M} UTC.")
    dispute = Dispute(
        payment_id=line.id,
        pool_id=pool.id,
        member_id=line.member_id,
        vendor_id=line.vendor_id or 0,
        reason=reason,
        stage=DisputeStage.AWAITING_VENDOR,
        vendor_due_at=now + terms.answer,
        escalate_at=now + terms.escalate,
        opened_at=now,
        updated_at=now,
    )
    session.add(dispute)
    session.flush()
    _post(session, dispute, actor.id, DisputeRole.MEMBER, message, now)
    audit.record(
        session,
        action="dispute.open",
        subject=dispute,
        actor_id=actor.id,
        now=now,
        pool_id=pool.id,
        after={"payment_id": line.id, "reason": reason},
    )
    money = format_minor(line.amount_minor, line.currency)
    _tell(
        session,
        pool,
        dispute,
        "dispute_opened",
        f"A member disputed their line of {money} in “{pool.title}” "
        f"({REASONS[reason]}). The money stays held until the dispute is resolved.",
        now,
        skip=(),
    )
    if pool.organiser_id in (dispute.vendor_id, dispute.member_id):
        _escalate(session, pool, dispute, "the organiser is a party to this line, so cannot mediate", now)
    sync_pool_status(session, pool, now=now)
    return dispute


def answer_dispute(
    session: Session,
    *,
    dispute_id: int,
    actor: User,
    answer: str,
    message: str,
    terms: EscrowTerms,
    now: datetime,
    refund_minor: int | None = None,
) -> Dispute:
    """The vendor answers: `refund` (the whole line, at once, at any stage), `partial` (an offer the
    member may accept), or `contest` (the organiser mediates, and either party may ask an operator)."""
    dispute, pool, line, role = _lock_dispute(session, dispute_id, actor)
    if role != DisputeRole.VENDOR:
        raise NotFound("No such dispute.")
    answerable = (DisputeStage.AWAITING_VENDOR, DisputeStage.OFFERED, DisputeStage.CONTESTED)
    if dispute.stage not in answerable and not (answer == "refund" and dispute.stage == DisputeStage.ESCALATED):
        # A vendor may always give the whole line back, even once an operator has it.
        raise Conflict(f"This dispute is {dispute.stage.replace('_', ' ')}: the vendor can no longer answer it.")
    _post(session, dispute, actor.id, DisputeRole.VENDOR, message, now)
    if answer == "refund":
        _resolve(
            session,
            pool,
            line,
            dispute,
            DisputeOutcome.REFUND,
            line.amount_minor - line.refunded_minor,
            actor,
            terms,
            now,
        )
        return dispute
    if answer == "partial":
        dispute.offer_minor = _check_partial(line, refund_minor)
        dispute.stage = DisputeStage.OFFERED
        what = f"offers a refund of {format_minor(dispute.offer_minor, line.currency)}"
    else:
        dispute.stage = DisputeStage.CONTESTED
        what = "contests the dispute; the organiser mediates, and either of you may ask a Buyswarm operator"
    dispute.updated_at = now
    audit.record(
        session,
        action="dispute.answer",
        subject=dispute,
        actor_id=actor.id,
        now=now,
        pool_id=pool.id,
        after={"answer": answer, "offer_minor": dispute.offer_minor},
    )
    _tell(session, pool, dispute, "dispute_answered", f"The vendor {what} (“{pool.title}”).", now, skip=(actor.id,))
    return dispute


def accept_offer(session: Session, *, dispute_id: int, actor: User, terms: EscrowTerms, now: datetime) -> Dispute:
    """The member accepts the vendor's partial-refund offer: refunded that, the rest released."""
    dispute, pool, line, role = _lock_dispute(session, dispute_id, actor)
    if role != DisputeRole.MEMBER:
        raise NotFound("No such dispute.")
    if dispute.stage != DisputeStage.OFFERED or dispute.offer_minor is None:
        raise Conflict("There is no refund offer to accept on this dispute.")
    _resolve(session, pool, line, dispute, DisputeOutcome.PARTIAL, dispute.offer_minor, actor, terms, now)
    return dispute


def escalate(session: Session, *, dispute_id: int, actor: User, note: str, now: datetime) -> Dispute:
    """The member or the organiser asks an operator to decide, once the vendor has answered."""
    dispute, pool, _line, role = _lock_dispute(session, dispute_id, actor)
    if role not in (DisputeRole.MEMBER, DisputeRole.ORGANISER):
        raise NotFound("No such dispute.")
    if dispute.stage == DisputeStage.ESCALATED:
        return dispute
    if dispute.stage == DisputeStage.AWAITING_VENDOR:
        raise Conflict(f"The vendor has until {dispute.vendor_due_at:%d %b %Y %H:%M} UTC to answer first.")
    if dispute.stage == DisputeStage.RESOLVED:
        raise Conflict("This dispute is resolved.")
    if note:
        _post(session, dispute, actor.id, role, note, now)
    _escalate(session, pool, dispute, f"the {role} asked for an operator", now)
    return dispute


def post_message(session: Session, *, dispute_id: int, actor: User, body: str, now: datetime) -> DisputeMessage:
    """A party (or the deciding operator) writes in the dispute's thread."""
    dispute, pool, _line, role = _lock_dispute(session, dispute_id, actor)
    if dispute.stage == DisputeStage.RESOLVED:
        raise Conflict("This dispute is resolved: its thread is closed.")
    message = _post(session, dispute, actor.id, role, body, now)
    _tell(
        session,
        pool,
        dispute,
        f"dispute_message:{dispute.id}-{message.id}",
        f"{actor.display_name} ({role}) wrote in the dispute on “{pool.title}”.",
        now,
        skip=(actor.id,),
    )
    return message


def decide(
    session: Session,
    *,
    dispute_id: int,
    actor: User,
    outcome: str,
    note: str,
    terms: EscrowTerms,
    now: datetime,
    refund_minor: int | None = None,
) -> Dispute:
    """A dispute operator decides an escalated dispute: release, full refund or partial refund."""
    dispute, pool, line, role = _lock_dispute(session, dispute_id, actor)
    if role != DisputeRole.OPERATOR:
        raise NotFound("No such dispute.")
    if dispute.stage != DisputeStage.ESCALATED:
        raise Conflict(f"Only an escalated dispute is an operator's to decide; this one is {dispute.stage}.")
    refund = {
        DisputeOutcome.RELEASE: 0,
        DisputeOutcome.REFUND: line.amount_minor - line.refunded_minor,
    }.get(DisputeOutcome(outcome))
    if refund is None:
        refund = _check_partial(line, refund_minor)
    if note:
        _post(session, dispute, actor.id, DisputeRole.OPERATOR, note, now)
    _resolve(session, pool, line, dispute, DisputeOutcome(outcome), refund, actor, terms, now)
    return dispute


def escalate_due(session: Session, *, now: datetime, limit: int = 200) -> int:
    """Escalate disputes the vendor did not answer in time, and those unresolved too long."""
    late = (Dispute.stage == DisputeStage.AWAITING_VENDOR) & (Dispute.vendor_due_at <= now)
    stale = Dispute.stage.in_([DisputeStage.OFFERED, DisputeStage.CONTESTED]) & (Dispute.escalate_at <= now)
    due = list(session.scalars(select(Dispute.id).where(late | stale).order_by(Dispute.id).limit(limit)))
    done = 0
    for dispute_id in due:
        dispute = session.get(Dispute, dispute_id)
        assert dispute is not None
        pool = lock_pool(session, dispute.pool_id)
        locked = session.scalar(
            select(Dispute).where(Dispute.id == dispute_id).with_for_update().execution_options(populate_existing=True)
        )
        assert locked is not None
        if locked.stage == DisputeStage.AWAITING_VENDOR and locked.vendor_due_at <= now:
            _escalate(session, pool, locked, "the vendor did not answer in time", now)
        elif locked.stage in (DisputeStage.OFFERED, DisputeStage.CONTESTED) and locked.escalate_at <= now:
            _escalate(session, pool, locked, "it was not resolved in time", now)
        else:
            continue
        done += 1
    return done


def _check_partial(line: Payment, refund_minor: int | None) -> int:
    most = line.amount_minor - line.refunded_minor
    if refund_minor is None or refund_minor <= 0 or refund_minor > most:
        limit = format_minor(most, line.currency)
        raise ValidationFailed(
            "A partial refund must be more than nothing and at most the line.",
            {"refund_minor": [f"Must be between 1 and {most} minor units ({limit})."]},
        )
    return refund_minor


def _escalate(session: Session, pool: Pool, dispute: Dispute, why: str, now: datetime) -> None:
    dispute.stage, dispute.escalated_at, dispute.escalation_note, dispute.updated_at = (
        DisputeStage.ESCALATED,
        now,
        why[:200],
        now,
    )
    _post(session, dispute, None, DisputeRole.SYSTEM, f"Escalated to a Buyswarm operator: {why}.", now)
    audit.record(
        session, action="dispute.escalate", subject=dispute, actor_id=None, now=now, pool_id=pool.id, after={"why": why}
    )
    _tell(
        session,
        pool,
        dispute,
        "dispute_escalated",
        f"A dispute on “{pool.title}” went to a Buyswarm operator: "
        f"{why}. The money stays held until the operator decides.",
        now,
        skip=(),
    )


def _resolve(
    session: Session,
    pool: Pool,
    line: Payment,
    dispute: Dispute,
    outcome: DisputeOutcome,
    refund_minor: int,
    actor: User,
    terms: EscrowTerms,
    now: datetime,
) -> None:
    """Record the outcome, decide the refund (the sweep makes it), and release the rest."""
    dispute.stage, dispute.outcome, dispute.refund_minor = DisputeStage.RESOLVED, outcome, refund_minor
    dispute.resolved_at, dispute.resolved_by, dispute.updated_at = now, actor.id, now
    line.refund_due_minor, line.updated_at = line.refunded_minor + refund_minor, now
    release_line(session, pool, line, terms, by=ReleasedBy.DISPUTE, actor_id=actor.id, now=now)
    audit.record(
        session,
        action="dispute.resolve",
        subject=dispute,
        actor_id=actor.id,
        now=now,
        pool_id=pool.id,
        after={"outcome": str(outcome), "refund_minor": refund_minor, "released_minor": line.released_minor},
    )
    words = {
        DisputeOutcome.RELEASE: "the vendor is paid the line",
        DisputeOutcome.REFUND: f"the member is refunded in full ({format_minor(refund_minor, line.currency)})",
        DisputeOutcome.PARTIAL: f"the member is refunded {format_minor(refund_minor, line.currency)} and the vendor "
        f"is paid the rest ({format_minor(line.released_minor, line.currency)})",
    }[outcome]
    _tell(
        session, pool, dispute, "dispute_resolved", f"The dispute on “{pool.title}” is resolved: {words}.", now, skip=()
    )
    sync_pool_status(session, pool, now=now)


def _post(
    session: Session, dispute: Dispute, author_id: int | None, role: DisputeRole, body: str, now: datetime
) -> DisputeMessage:
    message = DisputeMessage(dispute_id=dispute.id, author_id=author_id, role=role, body=body, created_at=now)
    session.add(message)
    session.flush()
    return message


def _tell(
    session: Session, pool: Pool, dispute: Dispute, kind: str, message: str, now: datetime, *, skip: Sequence[int]
) -> None:
    """Tell the dispute's three parties (once each per event), except those in `skip`."""
    keyed = kind if ":" in kind else f"{kind}:{dispute.id}"
    for user_id in dict.fromkeys((dispute.member_id, dispute.vendor_id, pool.organiser_id)):
        if user_id not in skip:
            notify_user(session, user_id, pool, keyed, message, now)
