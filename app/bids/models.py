"""Vendors' bids (append-only history) and the award a pool's clearing produces."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.bids.clearing import Tier
from app.db.base import Base
from app.db.types import StrEnumType


class BidStatus(StrEnum):
    ACTIVE = "active"
    REPLACED = "replaced"  # a newer bid of the same vendor took its place
    WITHDRAWN = "withdrawn"
    WON = "won"
    LOST = "lost"


class Bid(Base):
    __tablename__ = "bids"
    __table_args__ = (Index("ix_bids_pool_id_status", "pool_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    vendor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    tiers: Mapped[Any] = mapped_column(JSON)  # [{"min_quantity": 10, "unit_price": "3.1000"}, ...]
    capacity: Mapped[int]  # most units the vendor can supply
    delivery_window: Mapped[str] = mapped_column(String(120), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[BidStatus] = mapped_column(StrEnumType(BidStatus, 12), default=BidStatus.ACTIVE)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("bids.id"))
    demand_at_bid: Mapped[int]  # the pool's committed quantity when the bid was placed
    took_lead: Mapped[bool] = mapped_column(default=False)
    extended_close: Mapped[bool] = mapped_column(default=False)  # this bid triggered a soft-close extension
    created_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]

    vendor: Mapped[User] = relationship()

    @property
    def tier_list(self) -> tuple[Tier, ...]:
        """The price curve as domain tiers."""
        return tiers_from_json(self.tiers)

    @property
    def is_active(self) -> bool:
        return self.status == BidStatus.ACTIVE


def tiers_to_json(tiers: list[Tier] | tuple[Tier, ...]) -> list[dict[str, Any]]:
    """Store tiers exactly: prices as 4-place decimal strings."""
    return [{"min_quantity": t.min_quantity, "unit_price": f"{t.unit_price:.4f}"} for t in tiers]


class Award(Base):
    """A closed pool's award: one uniform price, and the lines of every winning bid.

    `bid_id` and `vendor_id` are the first winner's in merit order (the only one under the single
    rule); each line names the bid and vendor serving it.
    """

    __tablename__ = "awards"

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"), unique=True)
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id"))
    vendor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    unit_price: Mapped[Decimal]  # the uniform price every served member pays
    served_quantity: Mapped[int]
    total_minor: Mapped[int] = mapped_column(BigInteger)  # sum of the lines, in the pool currency's minor units
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the clearing inputs
    computed_at: Mapped[datetime]

    lines: Mapped[list[AwardLine]] = relationship(back_populates="award", order_by="AwardLine.id")
    vendor: Mapped[User] = relationship()


class AwardLine(Base):
    """One served commitment: what the member receives and owes."""

    __tablename__ = "award_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("awards.id"), index=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"), unique=True)
    member_id: Mapped[int]  # the commitment's, which vouches for it (migration 0013); read through the award
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id"))  # the winning bid serving this member
    vendor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)  # that bid's vendor
    quantity: Mapped[int]
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # quantity × unit price, half-even, in minor units

    award: Mapped[Award] = relationship(back_populates="lines")


def tiers_from_json(stored: list[dict[str, Any]]) -> tuple[Tier, ...]:
    """A stored price curve (see tiers_to_json) as domain tiers."""
    return tuple(Tier(int(t["min_quantity"]), Decimal(t["unit_price"])) for t in stored)
