"""JSON API for settlement: delivery, disputes, the ledger, the audit trail and provider webhooks."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView
from sqlalchemy.exc import IntegrityError

from app.audit import trail
from app.auth import require_user
from app.clock import utcnow
from app.extensions import db
from app.http import ApiBlueprint, api_error
from app.payments import jobs, ledger, service, webhooks
from app.payments.gateway import InvalidWebhook
from app.payments.gateways import current_gateway
from app.payments.schemas import AuditEventOut, DisputeIn, LedgerOut, PaymentOut, ResolveIn
from app.pools import service as pools
from app.pools import settlement
from app.pools.api import priced
from app.pools.models import Pool
from app.pools.schemas import PoolOut

blp = ApiBlueprint("payments_api", __name__, url_prefix="/api/v1", description="Settlement, ledger and audit")


def _organised(pool_id: int) -> Pool:
    return pools.get_organised_pool(db.session(), pool_id, require_user())


def fee_bps() -> int:
    return int(current_app.config["PLATFORM_FEE_BPS"])


@blp.route("/pools/<int:pool_id>/delivery")
class Delivery(MethodView):
    @blp.response(200, PoolOut)
    def post(self, pool_id: int) -> Any:
        """Confirm delivery (organiser or a charged member): the vendor is paid out, minus the fee."""
        jobs.confirm_delivery_and_pay(
            db.session(), current_gateway(), pool_id=pool_id, actor=require_user(), fee_bps=fee_bps(), now=utcnow()
        )
        return priced(pools.get_pool(db.session(), pool_id))


@blp.route("/pools/<int:pool_id>/dispute")
class Dispute(MethodView):
    @blp.arguments(DisputeIn)
    @blp.response(200, PoolOut)
    def post(self, data: dict[str, Any], pool_id: int) -> Any:
        """Dispute delivery (organiser or a charged member): the money stays held."""
        pool = settlement.open_dispute(db.session(), pool_id=pool_id, actor=require_user(), now=utcnow(), **data)
        db.session.commit()
        return priced(pool)


@blp.route("/pools/<int:pool_id>/dispute/resolve")
class Resolve(MethodView):
    @blp.arguments(ResolveIn)
    @blp.response(200, PoolOut)
    def post(self, data: dict[str, Any], pool_id: int) -> Any:
        """Resolve a dispute (organiser or operator): release the money to the vendor, or refund members."""
        jobs.resolve_dispute_and_move_money(
            db.session(),
            current_gateway(),
            pool_id=pool_id,
            actor=require_user(),
            fee_bps=fee_bps(),
            now=utcnow(),
            **data,
        )
        return priced(pools.get_pool(db.session(), pool_id))


@blp.route("/pools/<int:pool_id>/ledger")
class Ledger(MethodView):
    @blp.response(200, LedgerOut)
    def get(self, pool_id: int) -> Any:
        """The pool's ledger entries and the balance of each account (organiser or operator)."""
        found = ledger.statement(db.session(), _organised(pool_id).id)
        return {"entries": found.entries, "balances": found.balances, "total": found.total}


@blp.route("/pools/<int:pool_id>/payments")
class Payments(MethodView):
    @blp.response(200, PaymentOut(many=True))
    def get(self, pool_id: int) -> Any:
        """Each served member's payment and its status (organiser or operator)."""
        return service.payments_of(db.session(), _organised(pool_id).id)


@blp.route("/pools/<int:pool_id>/audit")
class Audit(MethodView):
    @blp.response(200, AuditEventOut(many=True))
    def get(self, pool_id: int) -> Any:
        """The pool's audit trail, oldest first (organiser or operator)."""
        pool = _organised(pool_id)
        return trail(db.session(), pool.id, bids_sealed=pool.bids_sealed)


@blp.route("/webhooks/stripe")
class StripeWebhook(MethodView):
    @blp.response(200)
    def post(self) -> Any:
        """Receive a Stripe event: the signature is checked on the raw body; duplicates change nothing."""
        gateway = current_gateway()
        try:
            event = gateway.parse_webhook(request.get_data(), request.headers.get("Stripe-Signature"))
        except InvalidWebhook as exc:
            return api_error(400, "invalid_webhook", exc.message)
        try:
            outcome = webhooks.handle(db.session(), gateway, event, now=utcnow())
            db.session.commit()
        except IntegrityError:  # the same event delivered twice at once: the other delivery handled it
            db.session.rollback()
            outcome = "duplicate"
        return {"received": True, "outcome": outcome}
