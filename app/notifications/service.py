"""Notify members, once per (user, pool, kind). No Flask here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.notifications.models import Notification


def notify(
    session: Session, *, user_id: int, pool_id: int | None, kind: str, message: str, now: datetime, email: bool = False
) -> bool:
    """Add a notification unless the same one exists (and, with `email`, queue it as an email too);
    return whether it was added."""
    exists = session.scalar(
        select(Notification.id).where(
            Notification.pool_id == pool_id, Notification.kind == kind, Notification.user_id == user_id
        )
    )
    if exists is not None:
        return False
    session.add(
        Notification(
            user_id=user_id,
            pool_id=pool_id,
            kind=kind,
            message=message,
            created_at=now,
            email_due=email,
            email_attempts=0,
        )
    )
    session.flush()
    return True


def queue_email(session: Session, *, user_id: int, kind: str, message: str, now: datetime) -> Notification:
    """Add a notification about no pool that goes out by email, every time it is asked for (account emails)."""
    note = Notification(
        user_id=user_id, pool_id=None, kind=kind, message=message, created_at=now, email_due=True, email_attempts=0
    )
    session.add(note)
    session.flush()
    return note


def inbox(session: Session, user_id: int, limit: int = 50) -> list[Notification]:
    """The user's newest notifications."""
    query = select(Notification).where(Notification.user_id == user_id).order_by(Notification.id.desc())
    return list(session.scalars(query.limit(limit)))
