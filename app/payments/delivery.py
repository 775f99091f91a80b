"""Delivery lists: whom each winning vendor delivers to, and where. No Flask here.

A member is on a vendor's list once their payment to that vendor went through (the money is in
escrow): a vendor never delivers to a member who was not charged. The list gives what the vendor
needs to deliver and nothing more: the member's name, quantity and address (or the pool's
collection point), and the line's state. Addresses are seen only by the vendor serving that member
and the organiser (and operators).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.bids.models import Award, AwardLine
from app.errors import NotFound
from app.payments.escrow import disputes_of
from app.payments.models import Payment, PaymentStatus
from app.payments.rules import LineKind, line_state
from app.pools.models import Commitment, Pool


@dataclass(frozen=True)
class Delivery:
    """One member to deliver to."""

    member_id: int
    display_name: str
    quantity: int
    address: str | None  # None in a pool that asks for none (see the pool's collection point)
    vendor_id: int
    state: LineKind  # the line's money: held until delivery is confirmed, released, refunded...


def delivery_list(session: Session, pool: Pool, viewer: User) -> list[Delivery]:
    """The members the viewer delivers to (the organiser: every charged member), in join order.

    Only the winners of the pool have a list: anyone else, a vendor that won nothing in it included, is
    told there is no such list.
    """
    sees_all = pool.is_organised_by(viewer) or viewer.is_admin
    query = (
        select(Payment, User.display_name, AwardLine.quantity, Commitment.delivery_address)
        .join(Commitment, Commitment.id == Payment.commitment_id)
        .join(
            AwardLine, AwardLine.commitment_id == Payment.commitment_id
        )  # served: a curve may take less than its most
        .join(User, User.id == Payment.member_id)
        .where(Payment.pool_id == pool.id)
        .order_by(Commitment.joined_at, Commitment.id)
    )
    if not sees_all:
        won = select(AwardLine.id).join(Award, Award.id == AwardLine.award_id)
        if session.scalar(won.where(Award.pool_id == pool.id, AwardLine.vendor_id == viewer.id).limit(1)) is None:
            raise NotFound("No such delivery list.")
        query = query.where(Payment.vendor_id == viewer.id)
    disputes = disputes_of(session, pool.id)
    return [
        Delivery(
            line.member_id, name, quantity, address, line.vendor_id or 0, line_state(line, disputes.get(line.id)).kind
        )
        for line, name, quantity, address in session.execute(query)
        if line.status == PaymentStatus.SUCCEEDED
    ]
