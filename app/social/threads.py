"""Delivery threads: each winning vendor of a pool talks with the members it serves. No Flask here.

A thread is (pool, vendor). Its parties are that vendor, the members whose award lines it serves
and the pool's organiser (who coordinates delivery); an admin may read it. Anyone else, a member
served by another vendor of the same pool included, is told the thread does not exist.

A message notifies the other side once per pool (the notification outbox keeps one notice per
pool, kind and person): the vendor's message tells its members, a member's or the organiser's
tells the vendor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.accounts.models import User
from app.bids.models import Award, AwardLine
from app.errors import NotFound, ValidationFailed
from app.notifications.service import notify
from app.pools.models import Pool
from app.social.models import DeliveryMessage
from app.social.service import body_errors, get_visible_pool

THREAD_LIMIT = 500  # the newest messages a thread shows


@dataclass(frozen=True)
class Thread:
    """A delivery thread as one party sees it."""

    pool: Pool
    vendor_id: int
    members: frozenset[int]  # the members the vendor serves in this pool
    viewer_role: str  # "vendor", "member", "organiser" or "admin"


def served_by(session: Session, pool_id: int, vendor_id: int) -> frozenset[int]:
    """The members the vendor's award lines serve in the pool."""
    query = (
        select(AwardLine.member_id)
        .join(Award, Award.id == AwardLine.award_id)
        .where(Award.pool_id == pool_id, AwardLine.vendor_id == vendor_id)
    )
    return frozenset(session.scalars(query))


def open_thread(session: Session, pool_id: int, vendor_id: int, viewer: User) -> Thread:
    """The thread if the viewer is one of its parties; NotFound otherwise (nothing is revealed)."""
    pool = get_visible_pool(session, pool_id, viewer)
    members = served_by(session, pool.id, vendor_id)
    if not members:
        raise NotFound("No such thread.")  # the vendor won nothing in this pool
    if viewer.id == vendor_id:
        role = "vendor"
    elif viewer.id in members:
        role = "member"
    elif pool.is_organised_by(viewer):
        role = "organiser"
    elif viewer.is_admin:
        role = "admin"
    else:
        raise NotFound("No such thread.")
    return Thread(pool, vendor_id, members, role)


def messages(session: Session, thread: Thread) -> list[DeliveryMessage]:
    """The thread's messages, oldest first (the newest THREAD_LIMIT)."""
    query = (
        select(DeliveryMessage)
        .where(DeliveryMessage.pool_id == thread.pool.id, DeliveryMessage.vendor_id == thread.vendor_id)
        .options(joinedload(DeliveryMessage.author))
        .order_by(DeliveryMessage.created_at.desc(), DeliveryMessage.id.desc())
        .limit(THREAD_LIMIT)
    )
    return list(reversed(session.scalars(query).all()))


def post_message(
    session: Session, *, pool_id: int, vendor_id: int, author: User, body: str, now: datetime
) -> DeliveryMessage:
    """Write to the thread (its vendor, members and the organiser may; an admin only reads)."""
    thread = open_thread(session, pool_id, vendor_id, author)
    if thread.viewer_role == "admin":
        raise NotFound("No such thread.")
    body = body.strip()
    if problems := body_errors(body):
        raise ValidationFailed(problems[0], {"body": problems})
    message = DeliveryMessage(pool_id=thread.pool.id, vendor_id=vendor_id, author_id=author.id, body=body,
                              created_at=now)  # fmt: skip
    session.add(message)
    session.flush()
    title = thread.pool.title
    if thread.viewer_role == "vendor":
        for member_id in sorted(thread.members):
            notify(session, user_id=member_id, pool_id=thread.pool.id, kind="delivery_message_to_member",
                   message=f"The vendor delivering your “{title}” order wrote to you.", now=now)  # fmt: skip
    else:
        notify(session, user_id=vendor_id, pool_id=thread.pool.id, kind="delivery_message_to_vendor",
               message=f"A member you deliver to in “{title}” wrote to you.", now=now)  # fmt: skip
    return message
