"""Users, their vendor profiles and their API tokens."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base
from app.db.types import Json, Str200


def new_session_token() -> str:
    """A fresh alternative id: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    is_admin: Mapped[bool] = mapped_column(default=False)
    # A neutral operator who decides escalated disputes (/admin/disputes); never a party to them.
    is_dispute_operator: Mapped[bool] = mapped_column(default=False)
    is_active_account: Mapped[bool] = mapped_column(default=True)
    payment_customer_ref: Mapped[str | None] = mapped_column(String(120))  # the gateway's customer
    # The alternative id sessions and remember-me cookies carry: a new one ends every session.
    session_token: Mapped[str] = mapped_column(String(32), default=new_session_token)
    email_verified_at: Mapped[datetime | None]  # the user opened the link sent to the address

    vendor_profile: Mapped[VendorProfile | None] = relationship(
        back_populates="user", foreign_keys="VendorProfile.user_id"
    )

    # flask-login's user protocol, kept here so the model is the one place that knows it.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.is_active_account

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """What the session and the remember-me cookie carry: the id and the current session token."""
        return f"{self.id}-{self.session_token}"

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def is_vendor(self) -> bool:
        return self.vendor_profile is not None

    @property
    def public_name(self) -> str:
        """The name others see: a vendor's legal name, anyone else's display name."""
        return self.vendor_profile.legal_name if self.vendor_profile is not None else self.display_name


class VendorProfile(Base):
    __tablename__ = "vendor_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    legal_name: Mapped[Str200]
    categories: Mapped[Json]  # list of category slugs served
    payout_account_id: Mapped[str | None] = mapped_column(String(80))  # Stripe connected account
    payouts_enabled: Mapped[bool] = mapped_column(default=False)  # the provider says it can receive transfers
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    # Identity (app.accounts.identity): verified when its payout identity is (Stripe says the account
    # is complete, or an operator checked the documents offline); the keyed fingerprint of its bank
    # account; and the earliest account with the same fingerprint, whose reputation it shares.
    verified_at: Mapped[datetime | None]
    verified_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # the operator; None: the provider
    payout_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    identity_root_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    user: Mapped[User] = relationship(back_populates="vendor_profile", foreign_keys=[user_id])


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    prefix: Mapped[str] = mapped_column(String(12))  # first characters, to tell tokens apart
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyKey(Base):
    """An API write made with an `Idempotency-Key` header: its answer, replayed for 24 hours (app.web.idempotency).

    The row is written in the same transaction as the write it guards, so a write that committed has
    its key and one that rolled back has none; the answer is stored just after.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"), Index("ix_idempotency_keys_created_at", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    body_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]  # None until the answer is stored
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
