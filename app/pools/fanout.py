"""Tell people about a pool: an inbox notification that also goes out by email, once per (user, pool, kind).

The one notification fan-out. It lives with the pools, whose members it reaches, and imports only
models below them, so every domain above (bids, payments, reputation, social) tells people
through it. The notification is the
email outbox (see app.notifications.models); app.social.mail renders and sends it with email_of.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.db.bulk import in_values, insert_rows
from app.notifications.models import Notification
from app.notifications.service import notify
from app.pools.models import Commitment, CommitmentStatus, Pool

# kind -> email subject; "{title}" is the pool's title.
KINDS: dict[str, str] = {
    "pool_tipped": "“{title}” has tipped",
    "new_best_price": "A new best price on “{title}”",
    "closing_soon": "“{title}” closes soon",
    "awarded": "“{title}” was awarded",
    "charged": "Your payment for “{title}”",
    "payment_failed": "Your payment for “{title}” did not go through",
    "feedback_received": "You received feedback on “{title}”",
    # Money events (app.payments.escrow). A kind may carry a key after a colon ("dispute_opened:12"),
    # so one user is told of each dispute once; the subject is the kind's.
    "not_charged": "“{title}” did not go ahead: you were not charged",
    "released": "Your payment for “{title}” was released to the vendor",
    "refunded": "A refund for “{title}”",
    "payout_sent": "A payout was sent to you",
    "card_declined": "Your card was declined for “{title}”: pay with another",
    "dispute_opened": "A dispute was opened on “{title}”",
    "dispute_answered": "The vendor answered a dispute on “{title}”",
    "dispute_message": "A new message in a dispute on “{title}”",
    "dispute_escalated": "A dispute on “{title}” went to a Buyswarm operator",
    "dispute_resolved": "A dispute on “{title}” was resolved",
}


def base_kind(kind: str) -> str:
    """The kind without its key: "dispute_opened:12" → "dispute_opened"."""
    return kind.partition(":")[0]


def email_of(*, kind: str, name: str, pool_id: int | None, pool_title: str | None, message: str) -> tuple[str, str]:
    """The subject and body of a notification's email (one about no pool names none)."""
    if pool_id is None or pool_title is None:
        subject, about = "News from Buyswarm", ""
    else:
        subject = KINDS.get(base_kind(kind), "News about “{title}”").format(title=pool_title)
        about = f"Pool: {pool_title} (#{pool_id})\n\n"
    body = f"Hello {name},\n\n{message}\n\n{about}You can read all your notifications in your Buyswarm inbox.\n"
    return subject[:200], body


def notify_user(session: Session, user_id: int, pool: Pool, kind: str, message: str, now: datetime) -> bool:
    """Notify one user about the pool (inbox and email); return whether this was new."""
    if base_kind(kind) not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; add it to KINDS")
    user = session.get(User, user_id)
    if user is None or not user.is_active_account:
        return False
    return notify(session, user_id=user.id, pool_id=pool.id, kind=kind, message=message[:500], now=now, email=True)


def notify_pool_members(
    session: Session,
    pool: Pool,
    kind: str,
    message: str,
    now: datetime,
    *,
    statuses: Iterable[str] | None = None,
    include_organiser: bool = True,
) -> int:
    """Notify the pool's members (not withdrawn, or in `statuses`) and its organiser; return how many were new."""
    return notify_members_of_pools(
        session, [(pool, message)], kind, now, statuses=statuses, include_organiser=include_organiser
    )


def notify_members_of_pools(
    session: Session,
    notices: Sequence[tuple[Pool, str]],
    kind: str,
    now: datetime,
    *,
    statuses: Iterable[str] | None = None,
    include_organiser: bool = True,
) -> int:
    """notify_pool_members for many (pool, message) at once, in the same few statements however many.

    One query for the recipients, one for who was told already, then one batched insert of the
    notifications (rows, not ORM objects): the scheduler awards and settles pools in batches,
    and a pool may have thousands of members.
    """
    if base_kind(kind) not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; add it to KINDS")
    if not notices:
        return 0
    pools = {pool.id: (pool, message[:500]) for pool, message in notices}
    wanted = set(statuses) if statuses is not None else {s.value for s in CommitmentStatus} - {"withdrawn"}
    active = User.is_active_account.is_(True)
    members = select(Commitment.pool_id, Commitment.member_id).join(User, User.id == Commitment.member_id)
    members = members.where(active, Commitment.pool_id.in_(pools), Commitment.status.in_(sorted(wanted)))
    recipients = {(pool_id, user_id) for pool_id, user_id in session.execute(members)}
    if include_organiser:
        organisers = {p.organiser_id for p, _ in pools.values()}
        told_too = set(session.scalars(select(User.id).where(User.id.in_(organisers), active)))
        recipients |= {(pool.id, pool.organiser_id) for pool, _ in pools.values() if pool.organiser_id in told_too}
    query = select(Notification.pool_id, Notification.user_id).where(
        Notification.pool_id.in_(pools), Notification.kind == kind
    )
    fresh = sorted(recipients - set(session.execute(query)))
    insert_rows(
        session, Notification, [_emailed(user_id, pool_id, kind, pools[pool_id][1], now) for pool_id, user_id in fresh]
    )
    return len(fresh)


def notify_each(session: Session, notices: Sequence[tuple[Pool, int, str, str]], now: datetime) -> int:
    """Tell each user their own news about a pool, (pool, user id, kind, words), inbox and email,
    once per (pool, user, kind).

    For a sweep that tells many people each their own news (lines released or refunded, say): one
    query for who was told already and one batched insert, however many.
    """
    for _, _, kind, _ in notices:
        if base_kind(kind) not in KINDS:
            raise ValueError(f"unknown notification kind {kind!r}; add it to KINDS")
    if not notices:
        return 0
    users = {user_id for _, user_id, _, _ in notices}
    active = set(session.scalars(select(User.id).where(in_values(session, User.id, users), User.is_active_account)))
    told = {
        tuple(row)
        for row in session.execute(
            select(Notification.pool_id, Notification.user_id, Notification.kind).where(
                in_values(session, Notification.pool_id, {pool.id for pool, _, _, _ in notices}),
                in_values(session, Notification.user_id, users),
                in_values(session, Notification.kind, {kind for _, _, kind, _ in notices}),
            )
        )
    }
    fresh = {
        (pool.id, user_id, kind): message
        for pool, user_id, kind, message in notices
        if user_id in active and (pool.id, user_id, kind) not in told
    }
    rows = [_emailed(user_id, pool_id, kind, message, now) for (pool_id, user_id, kind), message in fresh.items()]
    insert_rows(session, Notification, rows)
    return len(fresh)


def _emailed(user_id: int, pool_id: int, kind: str, message: str, now: datetime) -> dict[str, object]:
    """A notification row that also goes out by email (the outbox: app.notifications.models)."""
    return {"user_id": user_id, "pool_id": pool_id, "kind": kind, "message": message[:500], "created_at": now,
            "email_due": True, "email_attempts": 0}  # fmt: skip
