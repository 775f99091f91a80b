"""JSON API for pools and commitments (docs/domain.md, "The JSON API contract")."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from flask import current_app
from flask.views import MethodView

from app import unit_of_work
from app.bids import service as bids
from app.bids.service import has_active_bid
from app.clock import utcnow
from app.errors import NotFound
from app.pools import commitments, lifecycle, service
from app.pools.models import Pool
from app.web.auth import caller, require_user
from app.web.extensions import db
from app.web.http import ApiBlueprint
from app.web.payments.provider import save_card
from app.web.pools.schemas import CommitmentIn, CommitmentOut, PoolEditIn, PoolIn, PoolOut, PoolPageOut, PoolQuery

blp = ApiBlueprint("pools_api", __name__, url_prefix="/api/v1", description="Pools and commitments")


@dataclass(frozen=True)
class PricedPool:
    """A pool as the API shows it: its columns plus the best price the viewer may see."""

    pool: Pool
    best_unit_price: Decimal | None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


def priced(pool: Pool) -> PricedPool:
    """Attach the best unit price anyone may see (null for sealed auctions until the award)."""
    return PricedPool(pool, bids.best_unit_price(db.session(), pool))


@blp.route("/pools")
class Pools(MethodView):
    @blp.arguments(PoolQuery, location="query")
    @blp.response(200, PoolPageOut)
    def get(self, query: dict[str, Any]) -> Any:
        """Search public pools by status, category and text."""
        found = service.search_pools(db.session(), now=utcnow(), per_page=current_app.config["PAGE_SIZE"], **query)
        prices = bids.best_unit_prices(db.session(), found.items)
        items = [PricedPool(pool, prices[pool.id]) for pool in found.items]
        return {"items": items, "page": found.page, "total": found.total}

    @blp.arguments(PoolIn)
    @blp.response(201, PoolOut)
    def post(self, values: dict[str, Any]) -> Any:
        """Create a pool in draft."""
        pool = service.create_pool(db.session(), organiser=require_user(), values=values, now=utcnow())
        unit_of_work.commit(db.session())
        return priced(pool)


@blp.route("/pools/<int:pool_id>")
class PoolItem(MethodView):
    @blp.response(200, PoolOut)
    def get(self, pool_id: int) -> Any:
        """Return a pool with its demand and best price."""
        return priced(service.get_pool(db.session(), pool_id, caller()))

    @blp.arguments(PoolEditIn(partial=True))
    @blp.response(200, PoolOut)
    def patch(self, values: dict[str, Any], pool_id: int) -> Any:
        """Change a draft pool's settings (organiser only)."""
        pool = service.update_pool(db.session(), pool_id=pool_id, actor=require_user(), values=values, now=utcnow())
        unit_of_work.commit(db.session())
        return priced(pool)


@blp.route("/links/<token>")
class PoolByLink(MethodView):
    @blp.response(200, PoolOut)
    def get(self, token: str) -> Any:
        """Open an unlisted pool's share link: the caller may then use the pool by id."""
        pool = service.open_link(db.session(), token, caller(), utcnow())
        unit_of_work.commit(db.session())
        return priced(pool)


@blp.route("/pools/<int:pool_id>/publish")
class Publish(MethodView):
    @blp.response(200, PoolOut)
    def post(self, pool_id: int) -> Any:
        """Open a draft pool to members and vendors (organiser only; idempotent)."""
        pool = lifecycle.publish_pool(db.session(), pool_id=pool_id, actor=require_user(), now=utcnow())
        unit_of_work.commit(db.session())
        return priced(pool)


@blp.route("/pools/<int:pool_id>/cancel")
class Cancel(MethodView):
    @blp.response(200, PoolOut)
    def post(self, pool_id: int) -> Any:
        """Cancel a draft or open pool; nobody is charged (organiser only; idempotent)."""
        pool = lifecycle.cancel_pool(db.session(), pool_id=pool_id, actor=require_user(), now=utcnow())
        unit_of_work.commit(db.session())
        return priced(pool)


@blp.route("/pools/<int:pool_id>/commitment")
class MyCommitment(MethodView):
    @blp.response(200, CommitmentOut)
    def get(self, pool_id: int) -> Any:
        """Return the caller's commitment to the pool."""
        user = require_user()
        service.get_pool(db.session(), pool_id, user)
        found = commitments.find_commitment(db.session(), pool_id=pool_id, member_id=user.id)
        if found is None:
            raise NotFound("You have no commitment to this pool.")
        return found

    @blp.arguments(CommitmentIn)
    @blp.response(200, CommitmentOut)
    @blp.alt_response(201, schema=CommitmentOut, description="A new commitment")
    def put(self, data: dict[str, Any], pool_id: int) -> Any:
        """Join the pool, or change the caller's commitment, while it is open."""
        commitment, created = commitments.commit(
            db.session(), bids_on_pool=has_active_bid, pool_id=pool_id, member=require_user(), now=utcnow(), **data
        )
        unit_of_work.commit(db.session(), [partial(save_card, commitment.id)])
        return commitment, 201 if created else 200

    @blp.response(204)
    def delete(self, pool_id: int) -> Any:
        """Withdraw the caller's commitment while the pool is open."""
        commitments.withdraw(db.session(), pool_id=pool_id, member=require_user(), now=utcnow())
        unit_of_work.commit(db.session())
        return None
