"""One notification per (user, pool, kind): sending twice changes nothing.

A notification is also the email outbox: one that is to go out by email is written with
`email_due` set, and app.social.mail sends it later, rendered from the notification, its user and
its pool. One row per message, not a notification and a copy of it as an email: the scheduler
tells every member of a pool at its award and at its charge, in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # Pool first: it also answers "who of this pool was told already" (app.pools.fanout).
        UniqueConstraint("pool_id", "kind", "user_id"),
        Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
        # The outbox: only the emails still to send are in this index.
        Index("ix_notifications_email_due", "id", postgresql_where=text("email_due"), sqlite_where=text("email_due")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"))
    kind: Mapped[str] = mapped_column(String(40))  # "closing_soon", "payment_failed", ...
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
    email_due: Mapped[bool] = mapped_column(default=False)  # an email is still to be sent
    emailed_at: Mapped[datetime | None]
    email_attempts: Mapped[int] = mapped_column(default=0)
    email_next_attempt_at: Mapped[datetime | None]  # after a failure: not retried before this moment
    email_error: Mapped[str | None] = mapped_column(String(500))
