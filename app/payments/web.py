"""Web pages for settlement: the organiser's console, delivery, disputes, paying, vendor payouts."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.audit import trail
from app.auth import require_user
from app.bids import service as bids
from app.clock import utcnow
from app.errors import NotFound
from app.extensions import db
from app.http import load_form
from app.payments import jobs, ledger, service
from app.payments.gateways import current_gateway
from app.payments.schemas import DisputeIn, ResolveIn
from app.pools import service as pools
from app.pools import settlement
from app.pools.models import Commitment, Pool
from app.text import spreadsheet_safe

bp = Blueprint("payments", __name__, template_folder="../templates")


def _fee_bps() -> int:
    return int(current_app.config["PLATFORM_FEE_BPS"])


def _organised(pool_id: int) -> Pool:
    return pools.get_organised_pool(db.session(), pool_id, require_user())


def _members(pool: Pool) -> list[Commitment]:
    query = select(Commitment).where(Commitment.pool_id == pool.id).options(joinedload(Commitment.member))
    return list(db.session.scalars(query.order_by(Commitment.joined_at)))


@bp.get("/pools/<int:pool_id>/console")
@login_required
def console(pool_id: int) -> Any:
    """The organiser's console: members, bids, award, money, ledger and audit trail."""
    pool = _organised(pool_id)
    organiser = require_user()
    return render_template(
        "payments/console.html",
        pool=pool,
        members=_members(pool),
        bid_views=bids.bids_visible_to(db.session(), pool, organiser),
        award=bids.award_of(db.session(), pool.id),
        payments=service.payments_of(db.session(), pool.id),
        statement=ledger.statement(db.session(), pool.id),
        payout=service.payout_of(db.session(), pool.id),
        events=trail(db.session(), pool.id, bids_sealed=pool.bids_sealed),
    )


@bp.get("/pools/<int:pool_id>/members.csv")
@login_required
def members_csv(pool_id: int) -> Response:
    """Export the pool's members and their commitments as CSV (organiser)."""
    pool = _organised(pool_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["commitment_id", "member", "email", "quantity", "max_unit_price", "status", "joined_at"])
    for c in _members(pool):
        row = [c.id, c.member.display_name, c.member.email, c.quantity, f"{c.max_unit_price:.4f}", c.status,
               c.joined_at.isoformat()]  # fmt: skip
        writer.writerow([spreadsheet_safe(str(cell)) for cell in row])  # every cell, whoever typed it
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=pool-{pool.id}-members.csv"},
    )


@bp.post("/pools/<int:pool_id>/delivery")
@login_required
def confirm_delivery(pool_id: int) -> Any:
    """Confirm delivery: the vendor is paid out, minus the platform fee."""
    jobs.confirm_delivery_and_pay(
        db.session(), current_gateway(), pool_id=pool_id, actor=require_user(), fee_bps=_fee_bps(), now=utcnow()
    )
    flash("Thanks for confirming delivery. The vendor is being paid.", "success")
    return redirect(url_for("pools.show", pool_id=pool_id))


@bp.post("/pools/<int:pool_id>/dispute")
@login_required
def dispute(pool_id: int) -> Any:
    """Dispute delivery: the money stays held until the organiser resolves it."""
    data, errors = load_form(DisputeIn(), request.form)
    if errors:
        flash("Tell us what went wrong (at least 5 characters).", "error")
        return redirect(url_for("pools.show", pool_id=pool_id))
    settlement.open_dispute(db.session(), pool_id=pool_id, actor=require_user(), now=utcnow(), **data)
    db.session.commit()
    flash("Dispute opened. The money stays held until it is resolved.", "success")
    return redirect(url_for("pools.show", pool_id=pool_id))


@bp.post("/pools/<int:pool_id>/dispute/resolve")
@login_required
def resolve(pool_id: int) -> Any:
    """Resolve a dispute by releasing the money to the vendor or refunding the members."""
    data, errors = load_form(ResolveIn(), request.form)
    if errors:
        flash("Choose to release the money or refund the members.", "error")
        return redirect(url_for("payments.console", pool_id=pool_id))
    jobs.resolve_dispute_and_move_money(
        db.session(), current_gateway(), pool_id=pool_id, actor=require_user(), fee_bps=_fee_bps(), now=utcnow(), **data
    )
    flash("Dispute resolved.", "success")
    return redirect(url_for("payments.console", pool_id=pool_id))


@bp.post("/account/payouts")
@login_required
def payouts_onboarding() -> Any:
    """Start (or continue) the vendor's payout account onboarding with the payment provider."""
    vendor = require_user()
    profile = vendor.vendor_profile
    if profile is None:
        raise NotFound("Create a vendor profile first.")
    gateway = current_gateway()
    if profile.payout_account_id is None:
        profile.payout_account_id = gateway.create_connected_account(
            user_id=vendor.id, email=vendor.email, idempotency_key=f"vendor-{vendor.id}-account"
        )
        db.session.commit()
    back = url_for("accounts.profile", _external=True)
    return redirect(
        gateway.account_onboarding_link(account_ref=profile.payout_account_id, refresh_url=back, return_url=back)
    )
