"""The pools a club runs: attaching a pool to a club and listing a club's pools. No Flask here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.clubs.models import Club, ClubPool
from app.clubs.service import membership
from app.errors import Conflict, NotFound
from app.pools.models import Pool, PoolStatus, Visibility


def attach_pool(session: Session, *, club: Club, pool: Pool, actor: User, now: datetime) -> ClubPool:
    """Make the pool one of the club's: only its organiser may, and only as a member of the club.

    Attaching decides who may see and join a pool, so a club admin cannot take someone else's.
    """
    allowed = pool.is_organised_by(actor) and membership(session, club.id, actor.id) is not None
    if not allowed:
        raise NotFound("No such pool.")
    if session.scalar(select(ClubPool.id).where(ClubPool.pool_id == pool.id)) is not None:
        raise Conflict("This pool already belongs to a club.")
    link = ClubPool(club_id=club.id, pool_id=pool.id, created_at=now)
    session.add(link)
    session.flush()
    return link


def club_pools(session: Session, club: Club, viewer: User | None) -> list[Pool]:
    """The club's pools the viewer may see, newest first: members-only pools need membership."""
    query = select(Pool).join(ClubPool, ClubPool.pool_id == Pool.id).where(ClubPool.club_id == club.id)
    pools = session.scalars(query.order_by(Pool.created_at.desc(), Pool.id.desc()))
    is_member = membership(session, club.id, viewer.id if viewer else None) is not None
    return [
        pool
        for pool in pools
        if pool.is_organised_by(viewer)
        or (pool.status != PoolStatus.DRAFT and (is_member or pool.visibility != Visibility.CLUB))
    ]


def attachable_pools(session: Session, club: Club, actor: User | None) -> list[Pool]:
    """Pools the actor could attach to the club: their own that belong to no club yet."""
    if actor is None or membership(session, club.id, actor.id) is None:
        return []
    taken = select(ClubPool.pool_id)
    query = select(Pool).where(Pool.organiser_id == actor.id, Pool.id.not_in(taken))
    return list(session.scalars(query.order_by(Pool.created_at.desc(), Pool.id.desc())))
