"""The audit trail: who did what to which object, with the state before and after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db.base import Base
from app.db.bulk import insert_rows


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # null: the system
    action: Mapped[str] = mapped_column(String(40))  # "pool.publish", "bid.place", ...
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int]
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime]


def record(
    session: Session,
    *,
    action: str,
    subject: Any,
    actor_id: int | None,
    now: datetime,
    pool_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event for `subject` (any model with an `id`)."""
    event = AuditEvent(
        pool_id=pool_id,
        actor_id=actor_id,
        action=action,
        subject_type=type(subject).__name__.lower(),
        subject_id=subject.id,
        before=before,
        after=after,
        created_at=now,
    )
    session.add(event)
    return event


def record_rows(
    session: Session,
    *,
    action: str,
    subject_type: str,
    events: Sequence[tuple[int | None, int, Any, Any]],
    actor_id: int | None,
    now: datetime,
) -> None:
    """Add one audit event per (pool id, subject id, before, after), all of one action, in one
    batched insert (a sweep releasing many pools' lines)."""
    insert_rows(
        session,
        AuditEvent,
        [
            {
                "pool_id": pool_id,
                "actor_id": actor_id,
                "action": action,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "before": before,
                "after": after,
                "created_at": now,
            }
            for pool_id, subject_id, before, after in events
        ],
    )


SEALED = {"sealed": "shown after the close"}  # what a sealed bid's details read as before the close
SEALED_ACTIONS = frozenset({"bid.place"})  # events whose details carry a bid's prices


@dataclass(frozen=True)
class TrailEntry:
    """An audit event as the trail shows it: a sealed bid's details are withheld until the close."""

    event: AuditEvent
    before: Any
    after: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self.event, name)


def trail(session: Session, pool_id: int, *, bids_sealed: bool) -> list[TrailEntry]:
    """The pool's audit events, oldest first; with `bids_sealed`, bid events show no tiers or prices.

    The organiser and operators read the trail while the auction runs; in a sealed auction they must
    learn nothing of the bids before the close, any more than the vendors do.
    """
    events = session.scalars(select(AuditEvent).where(AuditEvent.pool_id == pool_id).order_by(AuditEvent.id))
    return [
        TrailEntry(event, SEALED, SEALED)
        if bids_sealed and event.action in SEALED_ACTIONS
        else TrailEntry(event, event.before, event.after)
        for event in events
    ]
