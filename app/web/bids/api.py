"""JSON API for bids, the close and the award (docs/domain.md, "The JSON API contract")."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app import unit_of_work
from app.bids import award, service
from app.clock import utcnow
from app.pools import service as pools
from app.reputation.scores import price_factors, trust_of
from app.web.auth import caller, require_user, require_vendor
from app.web.bids.schemas import AwardOut, BidIn, BidOut
from app.web.extensions import BIDDING_RATE, db, rate_limit
from app.web.http import ApiBlueprint
from app.web.pools.api import priced
from app.web.pools.schemas import PoolOut

blp = ApiBlueprint("bids_api", __name__, url_prefix="/api/v1", description="Bids, closing and awards")


@blp.route("/pools/<int:pool_id>/bids")
class Bids(MethodView):
    decorators = [rate_limit(BIDDING_RATE, methods=["POST"])]

    @blp.arguments(BidIn())  # an instance: given the class, webargs would build a schema per request
    @blp.response(201, BidOut)
    def post(self, data: dict[str, Any], pool_id: int) -> Any:
        """Place a bid, or revise yours (the new bid replaces your previous one)."""
        placed = service.place(
            db.session(), trust_of=trust_of, pool_id=pool_id, vendor=require_vendor(), now=utcnow(), **data
        )
        unit_of_work.commit(db.session(), service.after_placing(db.session(), placed, now=utcnow()))
        return placed.view()

    @blp.response(200, BidOut(many=True))
    def get(self, pool_id: int) -> Any:
        """The bids the caller may see: a vendor its own (with its rank in open auctions)."""
        user = require_user()
        return service.bids_visible_to(db.session(), pools.get_pool(db.session(), pool_id, user), user)


@blp.route("/pools/<int:pool_id>/bids/<int:bid_id>")
class BidItem(MethodView):
    @blp.response(204)
    def delete(self, pool_id: int, bid_id: int) -> Any:
        """Withdraw your bid while the pool is open."""
        service.withdraw_bid(db.session(), pool_id=pool_id, bid_id=bid_id, vendor=require_user(), now=utcnow())
        unit_of_work.commit(db.session())
        return None


@blp.route("/pools/<int:pool_id>/close")
class Close(MethodView):
    @blp.response(200, PoolOut)
    def post(self, pool_id: int) -> Any:
        """Close and clear the pool now (organiser or operator); closing twice changes nothing."""
        pool = award.close_pool(
            db.session(), pool_id=pool_id, actor=require_user(), now=utcnow(), price_factors=price_factors
        )
        unit_of_work.commit(db.session())
        return priced(pool)


@blp.route("/pools/<int:pool_id>/award")
class AwardItem(MethodView):
    @blp.response(200, AwardOut)
    def get(self, pool_id: int) -> Any:
        """The award: winner, price and the served lines the caller may see."""
        viewer = caller()
        return service.award_visible_to(db.session(), pools.get_pool(db.session(), pool_id, viewer), viewer)
