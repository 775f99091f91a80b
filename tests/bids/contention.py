"""Worker processes for the contention test: real vendors and members on separate connections."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.bids import service as bids
from app.bids.rules import Tier
from app.clock import utcnow
from app.errors import DomainError
from app.pools import commitments


def vendor_bids(url: str, pool_id: int, vendor_id: int, rounds: int, seed: int, results: Any) -> None:
    """Bid `rounds` times, each a little lower; report the ids of the bids that were accepted."""
    engine = create_engine(url)
    rng = random.Random(seed)
    price, accepted, refused = Decimal(100) + rng.randrange(0, 500) / Decimal(100), [], 0
    with Session(engine) as session:
        vendor = session.get(User, vendor_id)
        assert vendor is not None
        for _ in range(rounds):
            price -= Decimal(rng.randrange(1, 80)) / Decimal(100)
            curve = [Tier(1, price), Tier(rng.randrange(20, 60), price - Decimal("0.50"))]
            try:
                bid = bids.place(
                    session, pool_id=pool_id, vendor=vendor, tiers=curve, capacity=10_000, now=utcnow()
                ).bid
                session.commit()
                accepted.append(bid.id)
            except DomainError:
                session.rollback()
                refused += 1
    engine.dispose()
    results.put(("vendor", accepted, refused))


def member_joins(url: str, pool_id: int, member_ids: list[int], seed: int, results: Any) -> None:
    """Join the pool (and change the commitment once) for each member."""
    engine = create_engine(url)
    rng = random.Random(seed)
    with Session(engine) as session:
        for member_id in member_ids:
            member = session.get(User, member_id)
            assert member is not None
            for _ in range(2):
                commitments.commit(
                    session,
                    pool_id=pool_id,
                    member=member,
                    quantity=rng.randrange(1, 6),
                    max_unit_price=Decimal(200),
                    now=utcnow(),
                )
                session.commit()
    engine.dispose()
    results.put(("members", member_ids, 0))
