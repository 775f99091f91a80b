"""Pools and the commitments members make to them."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.db.base import Base
from app.db.types import ExactDecimal, Str40, Str200, StrEnumType
from app.pools.curves import Curve, Point


class PoolStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    AWARDED = "awarded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SETTLED = "settled"
    DISPUTED = "disputed"  # settled, and a line is in dispute (derived from the lines)
    COMPLETED = "completed"  # every line's money left escrow, and the vendor was paid for some
    REFUNDED = "refunded"  # every line was refunded in full: nobody paid in the end


class AuctionKind(StrEnum):
    OPEN = "open"
    SEALED = "sealed"


class AwardRule(StrEnum):
    LOWEST_PRICE = "lowest_price"
    PRICE_AND_REPUTATION = "price_and_reputation"


class AwardMode(StrEnum):
    """How a pool is cleared at its close (docs/domain.md, "The reverse auction and clearing")."""

    SPLIT = "split"  # several vendors at one uniform price when one alone cannot serve everyone
    SINGLE = "single"  # one winner: the bid serving the most


class Visibility(StrEnum):
    PUBLIC = "public"
    CLUB = "club"
    UNLISTED = "unlisted"


class CommitmentStatus(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    SERVED = "served"
    UNSERVED = "unserved"
    CHARGED = "charged"
    PAYMENT_FAILED = "payment_failed"
    REFUNDED = "refunded"


def new_link_token() -> str:
    """An unguessable token for a pool's share link (128 random bits)."""
    return secrets.token_urlsafe(16)


class Pool(Base):
    __tablename__ = "pools"
    __table_args__ = (
        Index("ix_pools_status_closes_at", "status", "closes_at"),
        Index("ix_pools_category_status", "category", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[Str200]
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[Str40]
    unit: Mapped[Str40]  # what one unit of quantity is: "panel", "kg", "kWh"
    currency: Mapped[str] = mapped_column(String(3))  # ISO 4217
    min_quantity: Mapped[int]  # the tipping point: below it the pool fails
    max_quantity: Mapped[int | None]  # total the pool will take; null means no limit
    max_per_member: Mapped[int]  # the most one member may commit (default: rules.default_max_per_member)
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime]
    auction_kind: Mapped[AuctionKind] = mapped_column(StrEnumType(AuctionKind, 10), default=AuctionKind.OPEN)
    min_decrement_pct: Mapped[Decimal] = mapped_column(ExactDecimal(5, 2), default=Decimal("1.00"))
    soft_close_minutes: Mapped[int] = mapped_column(default=10)
    max_extensions: Mapped[int] = mapped_column(default=3)
    extensions_used: Mapped[int] = mapped_column(default=0)
    min_vendor_trust: Mapped[Decimal | None] = mapped_column(ExactDecimal(4, 3))  # in [0, 1]
    award_rule: Mapped[AwardRule] = mapped_column(StrEnumType(AwardRule, 24), default=AwardRule.LOWEST_PRICE)
    award_mode: Mapped[AwardMode] = mapped_column(StrEnumType(AwardMode, 8), default=AwardMode.SPLIT)
    allow_unverified_vendors: Mapped[bool] = mapped_column(default=False)  # else only verified vendors bid
    visibility: Mapped[Visibility] = mapped_column(StrEnumType(Visibility, 10), default=Visibility.PUBLIC)
    # The share link's secret (/p/<link_token>): how an unlisted pool is found, never by its id.
    link_token: Mapped[str] = mapped_column(String(32), unique=True, default=new_link_token)
    status: Mapped[PoolStatus] = mapped_column(StrEnumType(PoolStatus, 12), default=PoolStatus.DRAFT)
    organiser_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Denormalised demand, maintained by the commitment service under the pool's row lock.
    committed_quantity: Mapped[int] = mapped_column(default=0)
    member_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    outcome_note: Mapped[str | None] = mapped_column(String(200))  # why it failed, in words for members
    settled_at: Mapped[datetime | None]  # every served member's payment is final; escrow holds the money
    # Delivery goes to the organiser (a pickup or collection pool): the organiser may then confirm
    # delivery for every member. Members see this before they join.
    delivery_to_organiser: Mapped[bool] = mapped_column(default=False)
    # Members give the address to deliver to when they join (shown only to the vendor serving them
    # and the organiser); or they collect at the collection point the pool names.
    needs_address: Mapped[bool] = mapped_column(default=False)
    collection_point: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime | None]
    # The scheduler could not close the pool CLOSE_ATTEMPTS times: it stops retrying and shows why,
    # for the organiser and operators (`flask pools retry ID` tries again).
    close_failures: Mapped[int] = mapped_column(default=0)
    attention_note: Mapped[str | None] = mapped_column(String(500))

    organiser: Mapped[User] = relationship()
    commitments: Mapped[list[Commitment]] = relationship(back_populates="pool")

    def is_open_at(self, now: datetime) -> bool:
        """Whether members may join and vendors may bid at `now`."""
        return self.status == PoolStatus.OPEN and now < self.closes_at

    def is_organised_by(self, user: User | None) -> bool:
        return user is not None and user.id == self.organiser_id

    @property
    def bids_sealed(self) -> bool:
        """A sealed auction before its close: nobody may learn anything that depends on the bids."""
        return self.auction_kind == AuctionKind.SEALED and self.status in (PoolStatus.DRAFT, PoolStatus.OPEN)

    def is_visible_to(self, user: User | None) -> bool:
        """Drafts are seen by their organiser only; everything else by anyone with the link."""
        return self.status != PoolStatus.DRAFT or self.is_organised_by(user)

    @property
    def has_tipped(self) -> bool:
        return self.committed_quantity >= self.min_quantity

    @property
    def progress_pct(self) -> int:
        """Committed quantity as a percentage of the tipping point, capped at 100."""
        return min(100, self.committed_quantity * 100 // max(1, self.min_quantity))

    def time_left(self, now: datetime) -> timedelta:
        return max(timedelta(0), self.closes_at - now)

    @property
    def remaining_capacity(self) -> int | None:
        if self.max_quantity is None:
            return None
        return max(0, self.max_quantity - self.committed_quantity)


class PoolLinkGrant(Base):
    """A user who may see a non-public pool by id: they opened its share link (or an invite to it), or bid on it."""

    __tablename__ = "pool_link_grants"
    __table_args__ = (UniqueConstraint("pool_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class CurveType(TypeDecorator[Curve]):
    """Points of a demand curve as a JSON list of [quantity, "max unit price"]; prices as text, so exact."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Curve | None, dialect: Dialect) -> list[list[int | str]]:
        return [[point.quantity, f"{point.max_unit_price:f}"] for point in value or ()]

    def process_result_value(self, value: list[list[int | str]] | None, dialect: Dialect) -> Curve:
        return tuple(Point(int(quantity), Decimal(str(price))) for quantity, price in value or ())


class Commitment(Base):
    __tablename__ = "commitments"
    __table_args__ = (
        UniqueConstraint("pool_id", "member_id"),
        # Pages keep room for a row's next version: a status change (served, charged, ...) is then a
        # heap-only update that writes no index entry (migration 0011).
        {"postgresql_with": {"fillfactor": 70}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # A demand curve (app.pools.curves): its last point is `quantity` at up to `max_unit_price` (the
    # most it takes, at its lowest maximum); `smaller_points` are the points before it, if any.
    quantity: Mapped[int]  # whole units of the pool's unit
    max_unit_price: Mapped[Decimal]  # 4 places, in the pool's currency
    smaller_points: Mapped[Curve] = mapped_column(CurveType(), default=())
    status: Mapped[CommitmentStatus] = mapped_column(StrEnumType(CommitmentStatus, 16), default=CommitmentStatus.ACTIVE)
    payment_ref: Mapped[str | None] = mapped_column(String(120))  # the gateway's SetupIntent for the saved card
    payment_method_ref: Mapped[str | None] = mapped_column(String(120))  # the card it saved, charged off-session
    delivery_address: Mapped[str | None] = mapped_column(Text)  # see Pool.needs_address; at most 500 characters
    created_at: Mapped[datetime]
    joined_at: Mapped[datetime]  # place in the queue; reset when a withdrawn member rejoins
    updated_at: Mapped[datetime]

    pool: Mapped[Pool] = relationship(back_populates="commitments")
    member: Mapped[User] = relationship()

    @property
    def is_active(self) -> bool:
        return self.status == CommitmentStatus.ACTIVE

    @property
    def points(self) -> Curve:
        """The whole demand curve, by quantity (one point for a plain commitment)."""
        return (*self.smaller_points, Point(self.quantity, self.max_unit_price))
