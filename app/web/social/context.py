"""What the pool page's social panel needs, as the kwargs of `pool_social` in social/pool_panel.html.

The pool view adds one line: `social=pool_social_context(db.session(), pool, caller(), request.host_url)`.
Reading only: an invite link is made when its owner asks for it (POST /pools/<id>/invite).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.accounts.models import User
from app.pools.models import Pool, PoolStatus
from app.social import service
from app.social.models import AuthorRole


@dataclass(frozen=True)
class PostView:
    id: int
    author_id: int
    author_name: str
    role: str  # an AuthorRole
    body: str
    is_pinned: bool
    is_hidden: bool
    created_at: datetime
    is_mine: bool

    @property
    def is_vendor(self) -> bool:
        return self.role == AuthorRole.VENDOR


@dataclass(frozen=True)
class InviteStats:
    can_invite: bool  # the viewer may ask for a link to share
    mine: int  # members who joined through the viewer's link and are still in
    by_inviter: list[service.InviterCount] = field(default_factory=list)  # every inviter: organiser only


def pool_social_context(session: Session, pool: Pool, viewer: User | None, invite_base_url: str) -> dict[str, Any]:
    """Build the kwargs of the `pool_social` macro for this viewer."""
    is_organiser = pool.is_organised_by(viewer)
    posts = [_view(post, viewer) for post in service.list_posts(session, pool, viewer)]
    invite = service.find_invite(session, pool.id, viewer.id) if viewer is not None else None
    invite_url = f"{invite_base_url.rstrip('/')}/i/{invite.code}" if invite is not None else None
    counts = service.invite_stats(session, pool) if viewer is not None else []
    stats = InviteStats(
        can_invite=viewer is not None and pool.status != PoolStatus.DRAFT,
        mine=sum(row.joins for row in counts if viewer is not None and row.inviter_id == viewer.id),
        by_inviter=counts if is_organiser else [],
    )
    return {
        "pool": pool,
        "posts": posts,
        "invite_url": invite_url,
        "invite_stats": stats,
        "can_post": service.author_role(session, pool, viewer) is not None,
        "is_organiser": is_organiser,
    }


def _view(post: Any, viewer: User | None) -> PostView:
    return PostView(
        id=post.id,
        author_id=post.author_id,
        author_name=post.author.display_name,
        role=post.author_role,
        body=post.body,
        is_pinned=post.is_pinned,
        is_hidden=post.is_hidden,
        created_at=post.created_at,
        is_mine=viewer is not None and post.author_id == viewer.id,
    )
