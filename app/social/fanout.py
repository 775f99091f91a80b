"""Tell people about a pool: an inbox notification and a queued email, once per (user, pool, kind).

No Flask here, and only models are imported, so any service (commitments, bids, lifecycle,
settlement, reputation) can call these helpers without an import cycle.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
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


def _email_body(user: User, pool: Pool, message: str) -> str:
    return (
        f"Hello {user.display_name},\n\n{message}\n\n"
        f"Pool: {pool.title} (#{pool.id})\n\n"
        "You can read all your notifications in your Buyswarm inbox.\n"
    )


def _deliver(session: Session, user: User, pool: Pool, kind: str, message: str, now: datetime) -> bool:
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; add it to KINDS")
    if not notify(session, user_id=user.id, pool_id=pool.id, kind=kind, message=message[:500], now=now):
        return False  # told before: no second email either
    subject = KINDS[kind].format(title=pool.title)
    queue_email(session, to_email=user.email, subject=subject, body=_email_body(user, pool, message), now=now)
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
    wanted = set(statuses) if statuses is not None else {s.value for s in CommitmentStatus} - {"withdrawn"}
    query = (
        select(User)
        .join(Commitment, Commitment.member_id == User.id)
        .where(Commitment.pool_id == pool.id, Commitment.status.in_(sorted(wanted)), User.is_active_account.is_(True))
        .order_by(User.id)
    )
    recipients = list(session.scalars(query))
    organiser = session.get(User, pool.organiser_id) if include_organiser else None
    if organiser is not None and organiser.is_active_account and organiser not in recipients:
        recipients.append(organiser)
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; add it to KINDS")
    # One query for who was told already, then one batch of rows: not two statements per member.
    told = set(
        session.scalars(select(Notification.user_id).where(Notification.pool_id == pool.id, Notification.kind == kind))
    )
    fresh = [user for user in recipients if user.id not in told]
    subject = KINDS[kind].format(title=pool.title)
    session.add_all(
        Notification(user_id=user.id, pool_id=pool.id, kind=kind, message=message[:500], created_at=now)
        for user in fresh
    )
    session.add_all(
        EmailMessage(
            to_email=user.email,
            subject=subject[:200],
            body=_email_body(user, pool, message),
            created_at=now,
            attempts=0,
        )
        for user in fresh
    )
    session.flush()
    return len(fresh)
