"""One notification per (user, pool, kind): sending twice changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "pool_id", "kind"),
        Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
        Index("ix_notifications_pool_id_kind", "pool_id", "kind"),  # who of a pool was told already
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"))
    kind: Mapped[str] = mapped_column(String(40))  # "closing_soon", "payment_failed", ...
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
