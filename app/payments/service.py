"""Settlement money steps: charge served members, record outcomes, refund, pay out. No Flask here.

Network calls never happen inside these functions. The caller (payments.jobs) follows one
pattern for every external call: `begin_*` takes the row lock, checks the status, counts the
attempt and leases the row for a while (written and committed *before* the call); the call goes
out with the idempotency key stored on the row; `record_*` writes the result (committed *after*
the call). A crash anywhere leaves a row that the next sweep retries with the same key, so the
provider replays instead of charging twice. A charge's first attempt needs no separate lease:
open_charges writes the payment already leased. Charges go in batches (a sweep settles many
pools, each with many members): one locking read and one write per chunk of payments.

The exception is a gateway inside this database (the offline one): its first charges are made
as open_charges writes the payments, in one transaction with their ledger postings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.bids.models import Award, AwardLine
from app.db.bulk import in_values, insert_rows, update_rows
from app.errors import Conflict, NotFound
from app.payments import ledger
from app.payments.gateway import ChargeResult
from app.payments.models import Payment, PaymentStatus, Payout, PayoutStatus
from app.payments.rules import EscrowTerms
from app.pools.models import Commitment, Pool

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=2)  # how long one worker owns an attempt before another may retry it
ACTION_GRACE = timedelta(hours=48)  # how long a member has to authenticate a payment on-session
DECLINE_GRACE = EscrowTerms().decline_grace  # how long a member has to pay with another card (config overrides)
TERMINAL = (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.REFUNDED)
NOT_A_DECLINE = ("authentication_expired", "decline_window_ended")  # failures that are final at once


def charge_key(pool_id: int, commitment_id: int) -> str:
    return f"pool-{pool_id}-commitment-{commitment_id}-charge"


@dataclass(frozen=True)
class ChargeRequest:
    """What one charge attempt sends: fixed when its payment is written, the same on every retry."""

    pool_id: int
    commitment_id: int
    customer_ref: str
    payment_method_ref: str | None
    amount_minor: int
    currency: str
    idempotency_key: str


@dataclass(frozen=True)
class ChargeLease(ChargeRequest):
    """A charge attempt whose lease is committed: the call may go out."""

    payment_id: int


# Payments are leased and recorded in chunks: one locking read and one batched write per chunk.
CHUNK = 500


def _in_id_order(ids: Iterable[int]) -> Iterator[list[int]]:
    """The payment ids in chunks, in id order: every worker locks rows in one order, so none deadlock."""
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), CHUNK):
        yield ordered[i : i + CHUNK]


def open_charges(
    session: Session,
    *,
    pools: Sequence[Pool],
    gateway: str,
    cards: Mapping[int, str],
    now: datetime,
    charge_now: Callable[[ChargeRequest], ChargeResult | None] | None = None,
    decline_grace: timedelta = DECLINE_GRACE,
) -> list[ChargeLease]:
    """Write a payment for every award line of the pools that has none yet, leased for its first attempt.

    The pools are locked by the caller, who commits before any gateway call: a payment is born
    with its attempt counted, its card pinned (the commitment's, else `cards[commitment_id]`, the
    customer's default card the caller looked up) and its lease set, exactly as begin_charges
    would leave it, without a second write. One read of the lines and one batched insert.

    `charge_now` is for a gateway that moves no money outside this database (the offline one):
    each charge is made before its payment is written, and the payment is born with its outcome,
    its capture posted to the ledger in the same transaction. Atomicity gives exactly-once there,
    so nothing is leased and no lease is returned; a charge that got no answer is born pending and
    leased, and is retried like any other.
    """
    by_id = {pool.id: pool for pool in pools}
    if not by_id:
        return []
    existing = set(session.scalars(select(Payment.commitment_id).where(Payment.pool_id.in_(by_id))))
    lines = session.execute(
        select(
            Award.pool_id,
            AwardLine.vendor_id,
            AwardLine.commitment_id,
            AwardLine.member_id,
            AwardLine.amount_minor,
            Commitment.payment_method_ref,
            User.payment_customer_ref,
        )
        .join(Award, Award.id == AwardLine.award_id)
        .join(Commitment, Commitment.id == AwardLine.commitment_id)
        .join(User, User.id == AwardLine.member_id)
        .where(Award.pool_id.in_(by_id))
        .order_by(AwardLine.id)
    ).all()
    fresh = [line for line in lines if line.commitment_id not in existing]
    rows = [
        {
            "pool_id": line.pool_id,
            "commitment_id": line.commitment_id,
            "member_id": line.member_id,
            "vendor_id": line.vendor_id,
            "amount_minor": line.amount_minor,
            "currency": by_id[line.pool_id].currency,
            "status": PaymentStatus.PENDING,
            "gateway": gateway,
            "idempotency_key": charge_key(line.pool_id, line.commitment_id),
            "payment_method_ref": line.payment_method_ref or cards.get(line.commitment_id),
            "attempts": 1,
            "next_attempt_at": now + LEASE,
            "refunded_minor": 0,
            "refund_due_minor": 0,
            "released_minor": 0,
            "fee_minor": 0,
            "created_at": now,
            "updated_at": now,
        }
        for line in fresh
    ]
    requests = [
        ChargeRequest(
            pool_id=row["pool_id"],
            commitment_id=line.commitment_id,
            customer_ref=line.payment_customer_ref or f"member-{line.member_id}",
            payment_method_ref=row["payment_method_ref"],
            amount_minor=row["amount_minor"],
            currency=row["currency"],
            idempotency_key=row["idempotency_key"],
        )
        for line, row in zip(fresh, rows, strict=True)
    ]
    if charge_now is not None:
        for row, request in zip(rows, requests, strict=True):
            row.update(_born_with(row, charge_now(request), now, decline_grace))
    ids = dict(tuple(row) for row in insert_rows(session, Payment, rows, returning=("commitment_id", "id")))
    if charge_now is not None:
        paid = [
            ChargeRow.of({**row, "id": ids[row["commitment_id"]]})
            for row in rows
            if row["status"] == PaymentStatus.SUCCEEDED
        ]
        ledger.post_many(session, [_captured(payment) for payment in paid], now=now, keys_are_new=True)
        return []
    return [ChargeLease(payment_id=ids[request.commitment_id], **vars(request)) for request in requests]


def _born_with(row: dict[str, Any], result: ChargeResult | None, now: datetime, grace: timedelta) -> dict[str, Any]:
    """The columns of a payment not yet written after its first charge's outcome (see _outcome)."""
    unwritten = {"id": 0, "gateway_ref": None, "action_url": None, "action_expires_at": None}
    row_now = ChargeRow.of({**unwritten, "failure_code": None, "failure_message": None, **row})
    values = _outcome(row_now, result, now, grace)
    assert values is not None, "a payment not yet written is pending"
    del values["id"]
    return values


def cards_to_choose(session: Session, pool_ids: Sequence[int]) -> list[tuple[int, str]]:
    """(commitment, customer) of award lines still to be charged whose commitment has no card yet.

    For providers that store cards: the customer's default card is looked up for them, outside
    any lock, before their payments are opened (see open_charges).
    """
    query = (
        select(AwardLine.commitment_id, User.payment_customer_ref)
        .join(Award, Award.id == AwardLine.award_id)
        .join(Commitment, Commitment.id == AwardLine.commitment_id)
        .join(User, User.id == AwardLine.member_id)
        .outerjoin(Payment, Payment.commitment_id == AwardLine.commitment_id)
        .where(
            Award.pool_id.in_(pool_ids),
            Payment.id.is_(None),
            Commitment.payment_method_ref.is_(None),
            User.payment_customer_ref.is_not(None),
        )
    )
    return [(commitment_id, customer) for commitment_id, customer in session.execute(query) if customer is not None]


def pending_payment_ids(session: Session, pool_ids: Sequence[int]) -> list[int]:
    """The pools' payments still waiting for a charge attempt, in order."""
    query = select(Payment.id).where(Payment.pool_id.in_(pool_ids), Payment.status == PaymentStatus.PENDING)
    return list(session.scalars(query.order_by(Payment.id)))


def _lock_payment(session: Session, payment_id: int) -> Payment | None:
    query = select(Payment).where(Payment.id == payment_id).with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def card_to_charge(session: Session, payment_id: int) -> tuple[str | None, bool]:
    """(customer ref, whether the card must still be chosen) for a pending payment's next attempt."""
    payment = session.get(Payment, payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING or payment.payment_method_ref is not None:
        return None, False
    commitment = commitment_for(session, payment)
    member = session.get(User, payment.member_id)
    needed = commitment.payment_method_ref is None and member is not None and member.payment_customer_ref is not None
    return (member.payment_customer_ref if member else None), needed


def fix_card(session: Session, *, payment_id: int, card_ref: str | None) -> None:
    """Pin the card every attempt of this payment sends (only the first choice counts)."""
    payment = _lock_payment(session, payment_id)
    if payment is not None and payment.payment_method_ref is None:
        payment.payment_method_ref = card_ref or commitment_for(session, payment).payment_method_ref


def begin_charges(session: Session, payment_ids: Sequence[int], *, now: datetime) -> list[ChargeLease]:
    """Lease pending payments for one charge attempt each; skip final ones and those someone else holds.

    Each leased payment's attempt is counted, its card pinned (the commitment's, unless one was
    chosen before) and its lease set, with one locking read and one batched write per chunk: the
    caller commits this before it calls the gateway.
    """
    leases: list[ChargeLease] = []
    for chunk in _in_id_order(payment_ids):
        rows = session.execute(
            select(
                Payment.id,
                Payment.pool_id,
                Payment.commitment_id,
                Payment.member_id,
                Payment.status,
                Payment.next_attempt_at,
                Payment.attempts,
                Payment.payment_method_ref,
                Payment.amount_minor,
                Payment.currency,
                Payment.idempotency_key,
                Commitment.payment_method_ref.label("commitment_card"),
                User.payment_customer_ref,
            )
            .join(Commitment, Commitment.id == Payment.commitment_id)
            .join(User, User.id == Payment.member_id)
            .where(in_values(session, Payment.id, chunk))
            .order_by(Payment.id)
            .with_for_update(of=Payment)
        ).all()
        leased = [
            row
            for row in rows
            if row.status == PaymentStatus.PENDING and (row.next_attempt_at is None or row.next_attempt_at <= now)
        ]
        update_rows(
            session,
            Payment,
            [
                {
                    "id": row.id,
                    "attempts": row.attempts + 1,
                    "payment_method_ref": row.payment_method_ref or row.commitment_card,
                    "next_attempt_at": now + LEASE,
                    "updated_at": now,
                }
                for row in leased
            ],
        )
        leases.extend(
            ChargeLease(
                payment_id=row.id,
                pool_id=row.pool_id,
                commitment_id=row.commitment_id,
                customer_ref=row.payment_customer_ref or f"member-{row.member_id}",
                payment_method_ref=row.payment_method_ref or row.commitment_card,
                amount_minor=row.amount_minor,
                currency=row.currency,
                idempotency_key=row.idempotency_key,
            )
            for row in leased
        )
    return leases


def record_charges(
    session: Session,
    outcomes: Sequence[tuple[int, ChargeResult | None]],
    *,
    now: datetime,
    decline_grace: timedelta = DECLINE_GRACE,
) -> None:
    """Store charge outcomes once each; None means the gateway could not answer (retry after the lease).

    A final payment is never changed again, so a late or repeated outcome (a webhook after the
    sweep, a re-run after a crash) does nothing twice; captured money is posted to the ledger.
    One locking read and one batched write per chunk, and one batch of ledger postings.
    """
    results = dict(outcomes)
    postings: list[ledger.Posting] = []
    for chunk in _in_id_order(results):
        query = _OUTCOME_COLUMNS.where(in_values(session, Payment.id, chunk)).order_by(Payment.id).with_for_update()
        rows = [ChargeRow(**row._mapping) for row in session.execute(query)]
        changes = [
            (row, values) for row in rows if (values := _outcome(row, results[row.id], now, decline_grace)) is not None
        ]
        update_rows(session, Payment, [values for _, values in changes])
        postings.extend(_captured(row) for row, values in changes if values["status"] == PaymentStatus.SUCCEEDED)
    ledger.post_many(session, postings, now=now)


@dataclass(frozen=True)
class ChargeRow:
    """What recording a charge's outcome reads of a payment (no ORM objects for a batch)."""

    id: int  # 0 for a payment not written yet
    pool_id: int
    member_id: int
    commitment_id: int
    amount_minor: int
    currency: str
    status: str
    gateway_ref: str | None
    action_url: str | None
    action_expires_at: datetime | None
    failure_code: str | None
    failure_message: str | None
    next_attempt_at: datetime | None

    @classmethod
    def of(cls, values: dict[str, Any]) -> ChargeRow:
        """The row from a payment's column values (extra columns are ignored)."""
        return cls(**{name: values[name] for name in cls.__dataclass_fields__})


_OUTCOME_COLUMNS = select(  # the columns of ChargeRow, in its order
    Payment.id,
    Payment.pool_id,
    Payment.member_id,
    Payment.commitment_id,
    Payment.amount_minor,
    Payment.currency,
    Payment.status,
    Payment.gateway_ref,
    Payment.action_url,
    Payment.action_expires_at,
    Payment.failure_code,
    Payment.failure_message,
    Payment.next_attempt_at,
)


def _outcome(
    row: ChargeRow, result: ChargeResult | None, now: datetime, decline_grace: timedelta
) -> dict[str, Any] | None:
    """The payment's changed columns after this outcome, or None when it changes nothing.

    A decline is not final: the payment waits `decline_grace` for the member to pay with another
    card (retry_with_another_card), and only then fails (expire_declined).
    """
    if row.status in (*TERMINAL, PaymentStatus.DECLINED) or (result is None and row.status != PaymentStatus.PENDING):
        return None
    values = {
        "id": row.id,
        "status": row.status,
        "gateway_ref": row.gateway_ref,
        "action_url": row.action_url,
        "action_expires_at": row.action_expires_at,
        "failure_code": row.failure_code,
        "failure_message": row.failure_message,
        "next_attempt_at": row.next_attempt_at,
        "updated_at": now,
    }
    if result is None:  # the gateway could not be reached: retry after the lease
        values["next_attempt_at"] = now + LEASE
        return values
    values["gateway_ref"] = result.payment_ref or row.gateway_ref
    if result.status == "succeeded":
        values.update(status=PaymentStatus.SUCCEEDED, action_url=None, next_attempt_at=None)
    elif result.status == "requires_action":
        values.update(status=PaymentStatus.REQUIRES_ACTION, action_url=result.action_url)
        values["action_expires_at"] = row.action_expires_at or now + ACTION_GRACE
        values.update(failure_code=result.failure_code, failure_message=result.failure_message)
    elif result.status == "failed" and result.failure_code in NOT_A_DECLINE:
        values.update(status=PaymentStatus.FAILED, failure_code=result.failure_code)
        values.update(failure_message=result.failure_message)
    elif result.status == "failed":
        values.update(status=PaymentStatus.DECLINED, action_url=None, next_attempt_at=None)
        values.update(failure_code=result.failure_code, failure_message=result.failure_message)
        values["action_expires_at"] = now + decline_grace
    else:  # "processing": not final; look again after the lease
        values["next_attempt_at"] = now + LEASE
    return values


def _captured(row: ChargeRow) -> ledger.Posting:
    return ledger.Posting(
        pool_id=row.pool_id,
        key=f"payment-{row.id}-captured",
        currency=row.currency,
        memo=f"member {row.member_id} paid for commitment {row.commitment_id}",
        legs=[(ledger.ESCROW, row.amount_minor), (ledger.MEMBER_PAYMENTS, -row.amount_minor)],
        payment_id=row.id,
    )


def record_charge(session: Session, *, payment_id: int, result: ChargeResult, now: datetime) -> Payment | None:
    """Store one charge outcome (see record_charges) and return the payment as it now is."""
    record_charges(session, [(payment_id, result)], now=now)
    return session.get(Payment, payment_id, populate_existing=True)


def _due_to_give_up(session: Session, payment_id: int, waiting: PaymentStatus, now: datetime) -> Payment | None:
    """The (locked) payment still `waiting` once its grace window (action_expires_at) has ended, or None."""
    payment = _lock_payment(session, payment_id)
    if payment is None or payment.status != waiting:
        return None
    if payment.action_expires_at is not None and payment.action_expires_at > now:
        return None
    return payment


def expire_action(session: Session, *, payment_id: int, now: datetime) -> bool:
    """Give up on a payment the member did not authenticate in time; True when it was dropped."""
    payment = _due_to_give_up(session, payment_id, PaymentStatus.REQUIRES_ACTION, now)
    if payment is None:
        return False
    payment.status, payment.failure_code, payment.updated_at = PaymentStatus.FAILED, "authentication_expired", now
    payment.failure_message = "The payment was not authenticated within the grace window."
    return True


def expire_declined(session: Session, *, payment_id: int, now: datetime) -> bool:
    """Drop a declined payment whose grace window ended without another card; True when dropped."""
    payment = _due_to_give_up(session, payment_id, PaymentStatus.DECLINED, now)
    if payment is None:
        return False
    payment.status, payment.updated_at = PaymentStatus.FAILED, now
    payment.failure_message = f"The card was declined ({payment.failure_code}) and no other card was given in time."
    return True


def retry_with_another_card(session: Session, *, payment_id: int, member_id: int, now: datetime) -> Payment:
    """The member will pay a declined payment with another card: charge again, under a new key.

    The card is chosen again at the next attempt (the customer's newest), so the request differs
    from the declined one and must not reuse its key; the old key stays spent.
    """
    payment = _lock_payment(session, payment_id)
    if payment is None or payment.member_id != member_id:
        raise NotFound("You have no payment to make in this pool.")
    if payment.status != PaymentStatus.DECLINED:
        raise Conflict(f"This payment is {payment.status}: there is nothing to pay again.")
    if payment.action_expires_at is not None and payment.action_expires_at <= now:
        raise Conflict("The time to pay with another card has ended: you were dropped from the pool.")
    retries = payment.idempotency_key.count("-card-")
    base = payment.idempotency_key.split("-card-")[0]
    payment.idempotency_key = f"{base}-card-{retries + 2}"
    payment.status, payment.payment_method_ref, payment.next_attempt_at = PaymentStatus.PENDING, None, None
    payment.failure_code = payment.failure_message = None
    payment.updated_at = now
    return payment


def payments_of(session: Session, pool_id: int) -> list[Payment]:
    """The pool's payments in order."""
    return list(session.scalars(select(Payment).where(Payment.pool_id == pool_id).order_by(Payment.id)))


def open_payouts(session: Session, *, now: datetime, limit: int = 5000) -> list[int]:
    """Gather released lines not yet paid into one payout per vendor and currency; return their ids.

    The lines are locked (those another worker is gathering are skipped), so each line joins one
    payout, once; the payout's idempotency key names its first line, so it is the same on every
    retry of its transfer. Rows, not ORM objects: a sweep gathers thousands of lines.
    """
    query = (
        select(
            Payment.id, Payment.pool_id, Payment.vendor_id, Payment.currency, Payment.released_minor, Payment.fee_minor
        )
        .where(Payment.released_minor > 0, Payment.payout_id.is_(None))
        .order_by(Payment.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    groups: dict[tuple[int, str], list[Any]] = {}
    for line in session.execute(query):
        groups.setdefault((line.vendor_id or 0, line.currency), []).append(line)
    made = []
    for (vendor_id, currency), lines in groups.items():
        pools = {line.pool_id for line in lines}
        gross, fee = sum(line.released_minor for line in lines), sum(line.fee_minor for line in lines)
        payout = Payout(
            pool_id=pools.pop() if len(pools) == 1 else None,
            vendor_id=vendor_id,
            gross_minor=gross,
            fee_minor=fee,
            amount_minor=gross - fee,
            line_count=len(lines),
            currency=currency,
            idempotency_key=f"vendor-{vendor_id}-payout-from-line-{lines[0].id}",
            created_at=now,
            updated_at=now,
        )
        session.add(payout)
        session.flush()
        session.execute(
            update(Payment)
            .where(in_values(session, Payment.id, [line.id for line in lines]))
            .values(payout_id=payout.id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        made.append(payout.id)
    return made


def pending_payout_ids(session: Session, *, limit: int = 200) -> list[int]:
    query = select(Payout.id).where(Payout.status == PayoutStatus.PENDING).order_by(Payout.id).limit(limit)
    return list(session.scalars(query))


def _lock_payout(session: Session, payout_id: int) -> Payout | None:
    query = select(Payout).where(Payout.id == payout_id).with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def begin_payout(session: Session, *, payout_id: int, now: datetime) -> Payout | None:
    """Lease a pending payout for one transfer attempt."""
    payout = _lock_payout(session, payout_id)
    if payout is None or payout.status != PayoutStatus.PENDING:
        return None
    if payout.next_attempt_at is not None and payout.next_attempt_at > now:
        return None
    payout.attempts, payout.next_attempt_at, payout.updated_at = payout.attempts + 1, now + LEASE, now
    return payout


def record_payout(session: Session, *, payout_id: int, transfer_ref: str, now: datetime) -> list[int]:
    """Mark the payout transferred (once) and post each of its lines; return the pools it touched
    (none when it was recorded already)."""
    payout = _lock_payout(session, payout_id)
    if payout is None or payout.status == PayoutStatus.PAID:
        return []
    payout.status, payout.gateway_ref, payout.updated_at = PayoutStatus.PAID, transfer_ref, now
    query = select(Payment.id, Payment.pool_id, Payment.currency, Payment.released_minor, Payment.fee_minor)
    lines = session.execute(query.where(Payment.payout_id == payout.id).order_by(Payment.id)).all()
    session.execute(
        update(Payment)
        .where(Payment.payout_id == payout.id)
        .values(paid_out_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    ledger.post_many(
        session,
        [
            ledger.Posting(
                pool_id=line.pool_id,
                key=f"payment-{line.id}-paid-out",
                currency=line.currency,
                memo=f"paid to vendor {payout.vendor_id} in payout {payout.id}",
                legs=[
                    (ledger.VENDOR_PAYABLE, line.fee_minor - line.released_minor),
                    (ledger.VENDOR_PAYOUTS, line.released_minor - line.fee_minor),
                ],
                payment_id=line.id,
            )
            for line in lines
        ],
        now=now,
        keys_are_new=True,  # the payout turned paid just now, under its lock: its lines were never posted
    )
    return sorted({line.pool_id for line in lines})


def refund_due_ids(session: Session, *, limit: int = 200) -> list[int]:
    """Lines with a decided refund not yet made, in order."""
    query = select(Payment.id).where(
        Payment.status == PaymentStatus.SUCCEEDED, Payment.refund_due_minor > Payment.refunded_minor
    )
    return list(session.scalars(query.order_by(Payment.id).limit(limit)))


def begin_refund(session: Session, *, payment_id: int, now: datetime) -> Payment | None:
    """Lease a captured payment with a decided refund for one refund attempt."""
    payment = _lock_payment(session, payment_id)
    if (
        payment is None
        or payment.status != PaymentStatus.SUCCEEDED
        or payment.refund_due_minor <= payment.refunded_minor
    ):
        return None
    if payment.next_attempt_at is not None and payment.next_attempt_at > now:
        return None
    payment.next_attempt_at, payment.updated_at = now + LEASE, now
    return payment


def record_refund(
    session: Session, *, payment_id: int, refund_ref: str, refunded_total_minor: int, now: datetime
) -> Payment | None:
    """Record that `refunded_total_minor` of the payment is now refunded in all; post only what is new.

    The provider reports the running total (a charge's `amount_refunded`), so a repeated or late
    report posts nothing, a partial refund posts exactly its amount, and the payment is refunded
    once the whole of it is.
    """
    payment = _lock_payment(session, payment_id)
    if payment is None or payment.status != PaymentStatus.SUCCEEDED:
        return payment
    change = _refunded(payment, refunded_total_minor, now)
    if change is not None:
        values, posting = change
        for name, value in values.items():
            setattr(payment, name, value)
        ledger.post_many(session, [posting], now=now)
    return payment


def _refunded(line: Any, refunded_total_minor: int, now: datetime) -> tuple[dict[str, Any], ledger.Posting] | None:
    """A captured line's changed columns and posting once `refunded_total_minor` is refunded in all,
    or None when that adds nothing. What was released to the vendor is no longer escrow's to refund."""
    most = line.amount_minor - line.released_minor
    if refunded_total_minor > most:
        log.warning(
            "payment %s: a refund of %s reported, more than the %s escrow held", line.id, refunded_total_minor, most
        )
    total = min(refunded_total_minor, most)
    new = total - line.refunded_minor
    if new <= 0:
        return None
    whole = total == line.amount_minor
    values = {
        "id": line.id,
        "refunded_minor": total,
        "updated_at": now,
        "status": PaymentStatus.REFUNDED if whole else PaymentStatus.SUCCEEDED,
    }
    posting = ledger.Posting(
        pool_id=line.pool_id,
        key=f"payment-{line.id}-refunded" if whole else f"payment-{line.id}-refunded-to-{total}",
        currency=line.currency,
        memo=f"refunded member {line.member_id}" + ("" if whole else f" ({new} minor units, partly)"),
        legs=[(ledger.ESCROW, -new), (ledger.REFUNDS, new)],
        payment_id=line.id,
    )
    return values, posting


@dataclass(frozen=True)
class Refunded:
    """A line a refund was just recorded for."""

    id: int
    pool_id: int
    member_id: int
    currency: str
    refunded_minor: int


def refund_in_database(
    session: Session, line_ids: Sequence[int], *, refund: Callable[[str, int, str], str], now: datetime
) -> list[Refunded]:
    """Make and record the decided refunds of these lines in this transaction (a gateway inside this
    database, like open_charges' charge_now): atomicity gives exactly-once, so nothing is leased.
    One locking read, one write and one batch of postings per chunk; return what was refunded."""
    made: list[Refunded] = []
    for chunk in _in_id_order(line_ids):
        rows = session.execute(
            select(
                Payment.id,
                Payment.pool_id,
                Payment.member_id,
                Payment.amount_minor,
                Payment.currency,
                Payment.status,
                Payment.refunded_minor,
                Payment.refund_due_minor,
                Payment.released_minor,
                Payment.gateway_ref,
                Payment.idempotency_key,
            )
            .where(in_values(session, Payment.id, chunk))
            .order_by(Payment.id)
            .with_for_update()
        ).all()
        changes = []
        for row in rows:
            if row.status != PaymentStatus.SUCCEEDED or row.refund_due_minor <= row.refunded_minor:
                continue
            key = f"{row.idempotency_key}-refund-to-{row.refund_due_minor}"
            ref = refund(row.gateway_ref or row.idempotency_key, row.refund_due_minor - row.refunded_minor, key)
            change = _refunded(row, row.refund_due_minor, now)
            if change is not None:
                change[0]["refund_ref"] = ref
                changes.append(change)
                made.append(Refunded(row.id, row.pool_id, row.member_id, row.currency, change[0]["refunded_minor"]))
        update_rows(session, Payment, [values for values, _ in changes])
        ledger.post_many(session, [posting for _, posting in changes], now=now)
    return made


def commitment_for(session: Session, payment: Payment) -> Commitment:
    commitment = session.get(Commitment, payment.commitment_id)
    assert commitment is not None
    return commitment


def payouts_of(session: Session, vendor_id: int, *, limit: int = 50) -> list[Payout]:
    """The vendor's payouts, newest first."""
    query = select(Payout).where(Payout.vendor_id == vendor_id).order_by(Payout.id.desc()).limit(limit)
    return list(session.scalars(query))


def lines_sold_by(session: Session, vendor_id: int, pool_ids: Sequence[int]) -> dict[int, list[Payment]]:
    """The vendor's lines in these pools, by pool."""
    found: dict[int, list[Payment]] = {}
    query = select(Payment).where(Payment.vendor_id == vendor_id, Payment.pool_id.in_(pool_ids)).order_by(Payment.id)
    for line in session.scalars(query):
        found.setdefault(line.pool_id, []).append(line)
    return found
