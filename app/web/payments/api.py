"""JSON API for settlement: each line's escrow, delivery, disputes, the ledger, the audit trail and
provider webhooks. Every money-moving call is a single call here; the web asks for a confirmation."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView
from sqlalchemy.exc import IntegrityError

from app import unit_of_work
from app.audit import trail
from app.clock import utcnow
from app.errors import NotFound
from app.payments import escrow, ledger, on_request, service, webhooks
from app.payments.delivery import delivery_list
from app.payments.gateway import InvalidWebhook
from app.pools import service as pools
from app.web.auth import require_user
from app.web.extensions import db
from app.web.http import ApiBlueprint, api_error
from app.web.payments.provider import current_gateway, current_terms
from app.web.payments.schemas import (
    AnswerIn,
    AuditEventOut,
    DecisionIn,
    DeliveryIn,
    DeliveryRowOut,
    DisputeIn,
    DisputeMessageOut,
    DisputeOut,
    EscalateIn,
    LedgerOut,
    LineOut,
    MessageIn,
    PaymentOut,
    PayoutOut,
)

blp = ApiBlueprint("payments_api", __name__, url_prefix="/api/v1", description="Settlement, escrow, disputes, ledger")


def _lines(pool_id: int) -> list[escrow.LineView]:
    viewer = require_user()
    return escrow.line_views(db.session(), pools.get_pool(db.session(), pool_id, viewer), viewer)


@blp.route("/pools/<int:pool_id>/lines")
class Lines(MethodView):
    @blp.response(200, LineOut(many=True))
    def get(self, pool_id: int) -> Any:
        """The pool's served lines the caller may see, each with its escrow state: a member its own,
        a vendor those it sold, the organiser and operators every line."""
        return _lines(pool_id)


@blp.route("/pools/<int:pool_id>/deliveries")
class Deliveries(MethodView):
    @blp.response(200, DeliveryRowOut(many=True))
    def get(self, pool_id: int) -> Any:
        """Whom you deliver to in this pool, as a winning vendor (the organiser: every charged member),
        with each member's address or the pool's collection point."""
        viewer = require_user()
        pool = pools.get_pool(db.session(), pool_id, viewer)
        return [
            {**vars(row), "collection_point": pool.collection_point}
            for row in delivery_list(db.session(), pool, viewer)
        ]


@blp.route("/pools/<int:pool_id>/delivery")
class Delivery(MethodView):
    @blp.arguments(DeliveryIn)
    @blp.response(200, LineOut(many=True))
    def post(self, data: dict[str, Any], pool_id: int) -> Any:
        """Confirm delivery of your own line: its money is released to the vendor (less the platform fee).

        The organiser of a pool delivered to the organiser may confirm for one member (`member_id`)
        or for every held line (`everyone`). Returns the caller's lines as they now are.
        """
        escrow.confirm_delivery(
            db.session(), pool_id=pool_id, actor=require_user(), terms=current_terms(), now=utcnow(), **data
        )
        unit_of_work.commit(db.session())
        return _lines(pool_id)


@blp.route("/pools/<int:pool_id>/disputes")
class PoolDisputes(MethodView):
    @blp.arguments(DisputeIn)
    @blp.response(201, DisputeOut)
    def post(self, data: dict[str, Any], pool_id: int) -> Any:
        """Dispute your own line before its window ends: its money stays held; the vendor has 3 days to answer."""
        dispute = escrow.open_dispute(
            db.session(), pool_id=pool_id, actor=require_user(), terms=current_terms(), now=utcnow(), **data
        )
        unit_of_work.commit(db.session())
        return dispute


@blp.route("/pools/<int:pool_id>/payment/retry")
class RetryPayment(MethodView):
    @blp.response(200, PaymentOut)
    def post(self, pool_id: int) -> Any:
        """After a decline, pay with another card (your newest saved card), within the grace window."""
        member = require_user()
        pools.get_pool(db.session(), pool_id, member)
        return on_request.retry_declined(
            db.session(), current_gateway(), pool_id=pool_id, member=member, now=utcnow(), terms=current_terms()
        )


@blp.route("/disputes")
class Disputes(MethodView):
    @blp.response(200, DisputeOut(many=True))
    def get(self) -> Any:
        """Disputes you are the member or the vendor of, newest first (operators: the escalated queue)."""
        user = require_user()
        if user.is_dispute_operator:
            return escrow.escalated_disputes(db.session())
        return escrow.disputes_involving(db.session(), user)


@blp.route("/disputes/<int:dispute_id>")
class DisputeOne(MethodView):
    @blp.response(200, DisputeOut)
    def get(self, dispute_id: int) -> Any:
        """One dispute and its thread (its member, vendor, the pool's organiser, or an operator once escalated)."""
        dispute, _pool, _role = escrow.dispute_for(db.session(), dispute_id, require_user())
        return dispute


def _after_decision(dispute_id: int) -> Any:
    """Commit, make the decided refund now if the provider answers, and return the dispute."""
    unit_of_work.commit(db.session())
    dispute, _pool, _role = escrow.dispute_for(db.session(), dispute_id, require_user())
    if dispute.refund_minor:
        on_request.try_refund(db.session(), current_gateway(), line_id=dispute.payment_id, now=utcnow())
    return escrow.dispute_for(db.session(), dispute_id, require_user())[0]


@blp.route("/disputes/<int:dispute_id>/answer")
class Answer(MethodView):
    @blp.arguments(AnswerIn)
    @blp.response(200, DisputeOut)
    def post(self, data: dict[str, Any], dispute_id: int) -> Any:
        """The vendor answers: `refund` the whole line now, offer a `partial` refund, or `contest`."""
        escrow.answer_dispute(
            db.session(), dispute_id=dispute_id, actor=require_user(), terms=current_terms(), now=utcnow(), **data
        )
        return _after_decision(dispute_id)


@blp.route("/disputes/<int:dispute_id>/accept")
class Accept(MethodView):
    @blp.response(200, DisputeOut)
    def post(self, dispute_id: int) -> Any:
        """The member accepts the vendor's partial-refund offer: refunded that, the rest released to the vendor."""
        escrow.accept_offer(
            db.session(), dispute_id=dispute_id, actor=require_user(), terms=current_terms(), now=utcnow()
        )
        return _after_decision(dispute_id)


@blp.route("/disputes/<int:dispute_id>/messages")
class Messages(MethodView):
    @blp.arguments(MessageIn)
    @blp.response(201, DisputeMessageOut)
    def post(self, data: dict[str, Any], dispute_id: int) -> Any:
        """Write in the dispute's thread (its member, vendor and organiser; an operator once escalated)."""
        message = escrow.post_message(db.session(), dispute_id=dispute_id, actor=require_user(), now=utcnow(), **data)
        unit_of_work.commit(db.session())
        return message


@blp.route("/disputes/<int:dispute_id>/escalate")
class Escalate(MethodView):
    @blp.arguments(EscalateIn)
    @blp.response(200, DisputeOut)
    def post(self, data: dict[str, Any], dispute_id: int) -> Any:
        """The member or the organiser asks a Buyswarm operator to decide (once the vendor has answered)."""
        dispute = escrow.escalate(db.session(), dispute_id=dispute_id, actor=require_user(), now=utcnow(), **data)
        unit_of_work.commit(db.session())
        return dispute


@blp.route("/disputes/<int:dispute_id>/decision")
class Decision(MethodView):
    @blp.arguments(DecisionIn)
    @blp.response(200, DisputeOut)
    def post(self, data: dict[str, Any], dispute_id: int) -> Any:
        """A dispute operator decides an escalated dispute: `release`, `refund`, or `partial` with `refund_minor`."""
        escrow.decide(
            db.session(), dispute_id=dispute_id, actor=require_user(), terms=current_terms(), now=utcnow(), **data
        )
        return _after_decision(dispute_id)


@blp.route("/payouts")
class Payouts(MethodView):
    @blp.response(200, PayoutOut(many=True))
    def get(self) -> Any:
        """Your payouts as a vendor, newest first: each pays released lines less the platform fee."""
        vendor = require_user()
        if not vendor.is_vendor:
            raise NotFound("Only vendors receive payouts.")
        return service.payouts_of(db.session(), vendor.id)


@blp.route("/pools/<int:pool_id>/ledger")
class Ledger(MethodView):
    @blp.response(200, LedgerOut)
    def get(self, pool_id: int) -> Any:
        """The pool's ledger entries and the balance of each account (organiser or operator)."""
        found = ledger.statement(db.session(), pools.get_organised_pool(db.session(), pool_id, require_user()).id)
        return {"entries": found.entries, "balances": found.balances, "total": found.total}


@blp.route("/pools/<int:pool_id>/payments")
class Payments(MethodView):
    @blp.response(200, PaymentOut(many=True))
    def get(self, pool_id: int) -> Any:
        """Each served member's payment and its status (organiser or operator)."""
        return service.payments_of(db.session(), pools.get_organised_pool(db.session(), pool_id, require_user()).id)


@blp.route("/pools/<int:pool_id>/audit")
class Audit(MethodView):
    @blp.response(200, AuditEventOut(many=True))
    def get(self, pool_id: int) -> Any:
        """The pool's audit trail, oldest first (organiser or operator)."""
        pool = pools.get_organised_pool(db.session(), pool_id, require_user())
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
            key = current_app.config["IDENTITY_KEY"].encode()
            outcome = webhooks.handle(db.session(), gateway, event, now=utcnow(), identity_key=key)
            unit_of_work.commit(db.session())
        except IntegrityError:  # the same event delivered twice at once: the other delivery handled it
            db.session.rollback()
            outcome = "duplicate"
        return {"received": True, "outcome": outcome}
