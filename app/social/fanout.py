"""Tell people about a pool: an inbox notification and a queued email, once per (user, pool, kind).

No Flask here, and only models are imported, so any service (commitments, bids, lifecycle,
settlement, reputation) can call these helpers without an import cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.db import insert_rows
from app.notifications.models import Notification
from app.notifications.service import notify
from app.pools.models import Commitment, CommitmentStatus, Pool
from app.social.models import EmailMessage

# kind -> email subject; "{title}" is the pool's title.
KINDS: dict[str, str] = {
    "pool_tipped": "“{title}” has tipped",
    "new_best_price": "A new best price on “{title}”",
    "closing_soon": "“{title}” closes soon",
    "awarded": "“{title}” was awarded",
    "charged": "Your payment for “{title}”",
    "feedback_received": "You received feedback on “{title}”",
}


def queue_email(session: Session, *, to_email: str, subject: str, body: str, now: datetime) -> EmailMessage:
    """Put an email in the outbox; the outbox job sends it after the transaction commits."""
    message = EmailMessage(to_email=to_email, subject=subject[:200], body=body, created_at=now, attempts=0)
    session.add(message)
    return message


def _email_body(name: str, pool: Pool, message: str) -> str:
    return (
        f"Hello {name},\n\n{message}\n\n"
        f"Pool: {pool.title} (#{pool.id})\n\n"
        "You can read all your notifications in your Buyswarm inbox.\n"
    )


def _deliver(session: Session, user: User, pool: Pool, kind: str, message: str, now: datetime) -> bool:
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; add it to KINDS")
    if not notify(session, user_id=user.id, pool_id=pool.id, kind=kind, message=message[:500], now=now):
        return False  # told before: no second email either
    subject = KINDS[kind].format(title=pool.title)
    body = _email_body(user.display_name, pool, message)
    queue_email(session, to_email=user.email, subject=subject, body=body, now=now)
    return True


def notify_user(session: Session, user_id: int, pool: Pool, kind: str, message: str, now: datetime) -> bool:
    """Notify one user about the pool (inbox and email); return whether this was new."""
    user = session.get(User, user_id)
    if user is None or not user.is_active_account:
        return False
    added = _deliver(session, user, pool, kind, message, now)
    session.flush()
    return added


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

    One query for the recipients, one for who was told already, then one batched insert each of
    notifications and emails (rows, not ORM objects): the scheduler awards and settles pools in
    batches, and a pool may have thousands of members.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; add it to KINDS")
    if not notices:
        return 0
    pools = {pool.id: (pool, message) for pool, message in notices}
    wanted = set(statuses) if statuses is not None else {s.value for s in CommitmentStatus} - {"withdrawn"}
    people = select(User.id, User.email, User.display_name).where(User.is_active_account.is_(True))
    members = people.add_columns(Commitment.pool_id).join(Commitment, Commitment.member_id == User.id)
    members = members.where(Commitment.pool_id.in_(pools), Commitment.status.in_(sorted(wanted)))
    recipients: dict[int, dict[int, Any]] = {pool_id: {} for pool_id in pools}
    for row in session.execute(members.order_by(Commitment.pool_id, User.id)):
        recipients[row.pool_id][row.id] = row
    if include_organiser:
        organisers = {
            row.id: row for row in session.execute(people.where(User.id.in_({p.organiser_id for p, _ in notices})))
        }
        for pool, _ in notices:
            if pool.organiser_id in organisers:
                recipients[pool.id].setdefault(pool.organiser_id, organisers[pool.organiser_id])
    query = select(Notification.pool_id, Notification.user_id).where(
        Notification.pool_id.in_(pools), Notification.kind == kind
    )
    told = {(pool_id, user_id) for pool_id, user_id in session.execute(query)}
    fresh = [
        (pools[pool_id], person)
        for pool_id, people_of_pool in recipients.items()
        for user_id, person in people_of_pool.items()
        if (pool_id, user_id) not in told
    ]
    insert_rows(
        session,
        Notification,
        [
            {"user_id": person.id, "pool_id": pool.id, "kind": kind, "message": message[:500], "created_at": now}
            for (pool, message), person in fresh
        ],
    )
    insert_rows(
        session,
        EmailMessage,
        [
            {
                "to_email": person.email,
                "subject": KINDS[kind].format(title=pool.title)[:200],
                "body": _email_body(person.display_name, pool, message),
                "created_at": now,
                "attempts": 0,
            }
            for (pool, message), person in fresh
        ],
    )
    return len(fresh)
