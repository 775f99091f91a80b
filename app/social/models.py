"""Discussions, invite links, followed categories and clubs (the email outbox is app.notifications)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.db.base import Base
from app.db.types import Str40, StrEnumType

POST_MAX_LENGTH = 2000


class AuthorRole(StrEnum):
    """How a post's author takes part in the pool, shown next to the post."""

    MEMBER = "member"
    ORGANISER = "organiser"
    VENDOR = "vendor"


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_pool_id_created_at", "pool_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    author_role: Mapped[AuthorRole] = mapped_column(StrEnumType(AuthorRole, 12))  # fixed when posted
    body: Mapped[str] = mapped_column(Text)  # at most POST_MAX_LENGTH characters
    is_pinned: Mapped[bool] = mapped_column(default=False)
    is_hidden: Mapped[bool] = mapped_column(default=False)  # seen only by the organiser and the author
    created_at: Mapped[datetime]

    author: Mapped[User] = relationship()


class DeliveryMessage(Base):
    """A message in the thread between one winning vendor of a pool and the members it serves.

    The thread is (pool_id, vendor_id); only that vendor, the members its award lines serve and the
    pool's organiser read or write it (app.social.threads).
    """

    __tablename__ = "delivery_messages"
    __table_args__ = (Index("ix_delivery_messages_thread", "pool_id", "vendor_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    vendor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # whose thread
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    body: Mapped[str] = mapped_column(Text)  # at most POST_MAX_LENGTH characters
    created_at: Mapped[datetime]

    author: Mapped[User] = relationship(foreign_keys=[author_id])


class Invite(Base):
    """One shareable link per (pool, inviter)."""

    __tablename__ = "invites"
    __table_args__ = (UniqueConstraint("pool_id", "inviter_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # random, url-safe
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    inviter_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime]


class InviteJoin(Base):
    """A commitment made after following an invite link: counted once per commitment."""

    __tablename__ = "invite_joins"

    id: Mapped[int] = mapped_column(primary_key=True)
    invite_id: Mapped[int] = mapped_column(ForeignKey("invites.id"), index=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime]


class CategoryFollow(Base):
    __tablename__ = "category_follows"
    __table_args__ = (UniqueConstraint("user_id", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    category: Mapped[Str40]  # a key of app.pools.rules.CATEGORIES
    created_at: Mapped[datetime]
