"""Social use cases: pool discussions, invite links, followed categories, the inbox. No Flask here.

Club use cases live in `app.clubs.service` and `app.pools.clubs`, notification fan-out in
`app.pools.fanout`; they are re-exported here so the HTTP floor has one module to import.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from app import audit
from app.accounts.models import User
from app.bids.models import Bid
from app.clubs.service import (
    club_admins,
    club_members,
    clubs_overview,
    create_club,
    get_club,
    join_club,
    leave_club,
    lock_user,
    membership,
)
from app.errors import Forbidden, NotFound, ValidationFailed
from app.notifications.models import Notification
from app.pools.clubs import attach_pool, attachable_pools, club_pools
from app.pools.fanout import KINDS, notify_pool_members, notify_user
from app.pools.models import Commitment, CommitmentStatus, Pool, PoolStatus, Visibility
from app.pools.rules import CATEGORIES
from app.pools.service import grant_link, pool_visible_to
from app.social.models import POST_MAX_LENGTH, AuthorRole, CategoryFollow, Invite, InviteJoin, Post
from app.text import control_characters

__all__ = [
    "KINDS", "attach_pool", "attachable_pools", "club_admins", "club_members", "club_pools", "clubs_overview",
    "create_club", "get_club", "join_club", "leave_club", "membership", "notify_pool_members", "notify_user",
]  # fmt: skip


@dataclass(frozen=True)
class InviterCount:
    inviter_id: int
    display_name: str
    joins: int


# --- who sees a pool ---------------------------------------------------------------------------


def follow_invite(session: Session, invite: Invite, viewer: User | None, now: datetime) -> Pool:
    """The pool an invite leads to: an invite to an unlisted pool is as good as its share link."""
    pool = session.get(Pool, invite.pool_id)
    if pool is not None and pool.visibility == Visibility.UNLISTED and pool.is_visible_to(viewer):
        grant_link(session, pool, viewer, now)
        return pool
    return get_visible_pool(session, invite.pool_id, viewer)


def get_visible_pool(session: Session, pool_id: int, viewer: User | None) -> Pool:
    """Return the pool if the viewer may see it; otherwise raise NotFound."""
    pool = session.get(Pool, pool_id)
    if pool is None or not pool_visible_to(session, pool, viewer):
        raise NotFound("No such pool.")
    return pool


# --- discussion --------------------------------------------------------------------------------


def author_role(session: Session, pool: Pool, user: User | None) -> AuthorRole | None:
    """How the user takes part in the pool: organiser, member, bidding vendor, or not at all."""
    if user is None:
        return None
    if pool.is_organised_by(user):
        return AuthorRole.ORGANISER
    status = session.scalar(
        select(Commitment.status).where(Commitment.pool_id == pool.id, Commitment.member_id == user.id)
    )
    if status is not None and status != CommitmentStatus.WITHDRAWN:
        return AuthorRole.MEMBER
    if session.scalar(select(Bid.id).where(Bid.pool_id == pool.id, Bid.vendor_id == user.id).limit(1)) is not None:
        return AuthorRole.VENDOR
    return None


def body_errors(body: str) -> list[str]:
    """What is wrong with a post's text (empty when fine)."""
    if not body.strip():
        return ["Write something before posting."]
    if len(body) > POST_MAX_LENGTH:
        return [f"Keep posts to {POST_MAX_LENGTH:,} characters; this one has {len(body):,}."]
    if control_characters(body, multiline=True):
        return ["Remove the control characters (such as NUL); line breaks and tabs are fine."]
    return []


def add_post(session: Session, *, pool_id: int, author: User, body: str, now: datetime) -> Post:
    """Post to the pool's discussion: its members, its organiser and vendors bidding on it may."""
    pool = get_visible_pool(session, pool_id, author)
    role = author_role(session, pool, author)
    if role is None:
        raise Forbidden("Only the pool's members, its organiser and vendors bidding on it can post here.")
    body = body.strip()
    if problems := body_errors(body):
        raise ValidationFailed(problems[0], {"body": problems})
    post = Post(pool_id=pool.id, author_id=author.id, author_role=role, body=body, created_at=now)
    session.add(post)
    session.flush()
    return post


def _moderated_post(session: Session, post_id: int, actor: User) -> Post:
    """The post if the actor organises its pool; anyone else is told it does not exist."""
    post = session.get(Post, post_id)
    pool = session.get(Pool, post.pool_id) if post is not None else None
    if post is None or pool is None or not pool.is_organised_by(actor):
        raise NotFound("No such post.")
    return post


def set_pinned(session: Session, *, post_id: int, actor: User, pinned: bool, now: datetime) -> Post:
    """Pin or unpin a post (the pool's organiser only)."""
    post = _moderated_post(session, post_id, actor)
    post.is_pinned = pinned
    session.flush()
    return post


def set_hidden(session: Session, *, post_id: int, actor: User, hidden: bool, now: datetime) -> Post:
    """Hide or show a post (the pool's organiser only); hiding is audited."""
    post = _moderated_post(session, post_id, actor)
    if post.is_hidden != hidden:
        before, post.is_hidden = {"is_hidden": post.is_hidden}, hidden
        audit.record(session, action="post.hide" if hidden else "post.show", subject=post, actor_id=actor.id,
                     now=now, pool_id=post.pool_id, before=before, after={"is_hidden": hidden})  # fmt: skip
    session.flush()
    return post


def list_posts(session: Session, pool: Pool, viewer: User | None, limit: int = 200) -> list[Post]:
    """The discussion as the viewer may see it: pinned first, then newest first."""
    query = select(Post).where(Post.pool_id == pool.id).options(joinedload(Post.author))
    if not pool.is_organised_by(viewer):
        query = query.where(Post.is_hidden.is_(False) | (Post.author_id == (viewer.id if viewer else None)))
    query = query.order_by(Post.is_pinned.desc(), Post.created_at.desc(), Post.id.desc()).limit(limit)
    return list(session.scalars(query))


# --- invite links --------------------------------------------------------------------------------


def find_invite(session: Session, pool_id: int, inviter_id: int) -> Invite | None:
    """The inviter's link to the pool, if they made one."""
    return session.scalar(select(Invite).where(Invite.pool_id == pool_id, Invite.inviter_id == inviter_id))


def invite_for(session: Session, *, pool_id: int, inviter: User, now: datetime) -> Invite:
    """Return the inviter's link to the pool, making it on first use."""
    pool = get_visible_pool(session, pool_id, inviter)
    if pool.status == PoolStatus.DRAFT:
        raise NotFound("No such pool.")  # nobody can join a draft, so there is nothing to invite to
    lock_user(session, inviter.id)
    invite = find_invite(session, pool.id, inviter.id)
    if invite is None:
        invite = Invite(code=secrets.token_urlsafe(12), pool_id=pool.id, inviter_id=inviter.id, created_at=now)
        session.add(invite)
        session.flush()
    return invite


def invite_by_code(session: Session, code: str) -> Invite:
    """Return the invite with this code or raise NotFound."""
    invite = session.scalar(select(Invite).where(Invite.code == code)) if len(code) <= 32 else None
    if invite is None:
        raise NotFound("This invite link is not valid.")
    return invite


def record_invite_join(session: Session, code: str | None, commitment: Commitment, now: datetime) -> InviteJoin | None:
    """Credit the invite's owner with the commitment; once per commitment, never for oneself."""
    invite = session.scalar(select(Invite).where(Invite.code == code)) if code else None
    if invite is None or invite.pool_id != commitment.pool_id or invite.inviter_id == commitment.member_id:
        return None
    existing = session.scalar(select(InviteJoin).where(InviteJoin.commitment_id == commitment.id))
    if existing is not None:
        return existing
    joined = InviteJoin(invite_id=invite.id, commitment_id=commitment.id, member_id=commitment.member_id,
                        created_at=now)  # fmt: skip
    session.add(joined)
    session.flush()
    return joined


def invite_stats(session: Session, pool: Pool) -> list[InviterCount]:
    """How many members (still in the pool) joined through each inviter's link, most first."""
    joins = func.count(InviteJoin.id)
    query = (
        select(Invite.inviter_id, User.display_name, joins)
        .join(InviteJoin, InviteJoin.invite_id == Invite.id)
        .join(Commitment, Commitment.id == InviteJoin.commitment_id)
        .join(User, User.id == Invite.inviter_id)
        .where(Invite.pool_id == pool.id, Commitment.status != CommitmentStatus.WITHDRAWN)
        .group_by(Invite.inviter_id, User.display_name)
        .order_by(joins.desc(), User.display_name)
    )
    return [InviterCount(inviter_id, name, int(n)) for inviter_id, name, n in session.execute(query)]


# --- followed categories -------------------------------------------------------------------------


def followed_categories(session: Session, user: User) -> list[str]:
    """The categories the user follows, in the site's category order."""
    mine = set(session.scalars(select(CategoryFollow.category).where(CategoryFollow.user_id == user.id)))
    return [slug for slug in CATEGORIES if slug in mine]


def set_followed_categories(session: Session, *, user: User, categories: list[str], now: datetime) -> list[str]:
    """Follow exactly `categories`; an unknown one changes nothing."""
    unknown = [slug for slug in categories if slug not in CATEGORIES]
    if unknown:
        raise ValidationFailed("Unknown category.", {"categories": [f"Unknown category: {unknown[0]}."]})
    lock_user(session, user.id)
    wanted, current = set(categories), set(followed_categories(session, user))
    for follow in session.scalars(select(CategoryFollow).where(CategoryFollow.user_id == user.id)):
        if follow.category not in wanted:
            session.delete(follow)
    session.add_all(CategoryFollow(user_id=user.id, category=slug, created_at=now) for slug in wanted - current)
    session.flush()
    return followed_categories(session, user)


def pools_in_followed_categories(session: Session, user: User, *, now: datetime, limit: int = 50) -> list[Pool]:
    """Open public pools in the categories the user follows, soonest closing first."""
    followed = select(CategoryFollow.category).where(CategoryFollow.user_id == user.id)
    query = select(Pool).where(
        Pool.category.in_(followed),
        Pool.status == PoolStatus.OPEN,
        Pool.visibility == Visibility.PUBLIC,
        Pool.closes_at > now,
    )
    return list(session.scalars(query.order_by(Pool.closes_at, Pool.id).limit(limit)))


# --- inbox ---------------------------------------------------------------------------------------


def unread_count(session: Session, user: User) -> int:
    """How many of the user's notifications are unread."""
    query = select(func.count(Notification.id)).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    return session.scalar(query) or 0


def mark_read(session: Session, *, user: User, now: datetime, notification_id: int | None = None) -> int:
    """Mark the user's unread notifications (or one of them) read; return how many changed."""
    query = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    result = session.execute(query.values(read_at=now).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
