"""Clubs: standing buying groups, their members, and the pools a club runs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.db.base import Base
from app.db.types import StrEnumType


class ClubRole(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"


class Club(Base):
    """A standing buying group whose members see and run pools together."""

    __tablename__ = "clubs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    slug: Mapped[str] = mapped_column(String(60), unique=True)  # the club's address: /clubs/<slug>
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime]


class ClubMember(Base):
    __tablename__ = "club_members"
    __table_args__ = (UniqueConstraint("club_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    club_id: Mapped[int] = mapped_column(ForeignKey("clubs.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[ClubRole] = mapped_column(StrEnumType(ClubRole, 10), default=ClubRole.MEMBER)
    created_at: Mapped[datetime]

    user: Mapped[User] = relationship()

    @property
    def is_admin(self) -> bool:
        return self.role == ClubRole.ADMIN


class ClubPool(Base):
    """A pool run by a club; a pool belongs to at most one club."""

    __tablename__ = "club_pools"

    id: Mapped[int] = mapped_column(primary_key=True)
    club_id: Mapped[int] = mapped_column(ForeignKey("clubs.id"), index=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"), unique=True)
    created_at: Mapped[datetime]
