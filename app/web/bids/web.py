"""Web pages for vendors: the dashboard, the bid editor and withdrawing a bid."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from app import unit_of_work
from app.bids import service
from app.bids.models import BidStatus
from app.clock import utcnow
from app.errors import Conflict, Forbidden, ValidationFailed
from app.payments.escrow import disputes_involving
from app.payments.rules import fee_percent, line_state
from app.payments.service import lines_sold_by, payouts_of
from app.pools import service as pools
from app.reputation.scores import trust_of
from app.web.auth import require_user
from app.web.bids.schemas import BidIn
from app.web.extensions import BIDDING_RATE, db, rate_limit
from app.web.http import restored_values, validate
from app.web.payments.provider import current_terms

bp = Blueprint("bids", __name__, template_folder="../../templates")
TIER_ROWS = 8  # rows the bid editor shows; blank rows are ignored


@bp.get("/vendor")
@login_required
def dashboard() -> Any:
    """The vendor's dashboard: open pools in its categories and its bids with rank and status."""
    vendor = require_user()
    if vendor.vendor_profile is None:
        flash("Create a vendor profile to bid on pools.", "error")
        return redirect(url_for("accounts.profile"))
    board = service.vendor_dashboard(db.session(), vendor, now=utcnow())
    won = [row.pool.id for row in board.my_bids if row.bid is not None and row.bid.status == BidStatus.WON]
    lines = lines_sold_by(db.session(), vendor.id, won)
    disputes = {d.payment_id: d for d in disputes_involving(db.session(), vendor) if d.vendor_id == vendor.id}
    return render_template(
        "bids/dashboard.html",
        board=board,
        lines={
            pool_id: [(line, line_state(line, disputes.get(line.id))) for line in found]
            for pool_id, found in lines.items()
        },
        disputed={payment_id: d.id for payment_id, d in disputes.items()},
        payouts=payouts_of(db.session(), vendor.id),
        fee=fee_percent(current_terms().fee_bps),
    )


def _tier_form() -> Any:
    """The editor's rows as the schema expects them: tiers.N.field, blank rows dropped."""
    tiers = []
    for n in range(TIER_ROWS):
        quantity, price = request.form.get(f"tier_{n}_quantity", ""), request.form.get(f"tier_{n}_price", "")
        if quantity.strip() or price.strip():
            tiers.append({"min_quantity": quantity.strip(), "unit_price": price.strip()})
    raw = {k: v for k in ("capacity", "delivery_window", "notes") if (v := request.form.get(k, "").strip())}
    return {"tiers": tiers, **raw}


@bp.route("/pools/<int:pool_id>/bid", methods=["GET", "POST"])
@login_required
@rate_limit(BIDDING_RATE, methods=["POST"])
def edit(pool_id: int) -> Any:
    """Place or revise the vendor's bid on a pool."""
    vendor = require_user()
    pool = pools.get_pool(db.session(), pool_id, vendor)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = request.form.to_dict()
    if request.method == "POST":
        data, errors = validate(BidIn(), _tier_form())
        if not errors:
            try:
                placed = service.place(
                    db.session(), trust_of=trust_of, pool_id=pool_id, vendor=vendor, now=utcnow(), **data
                )
            except (ValidationFailed, Conflict, Forbidden) as exc:
                db.session.rollback()
                errors = exc.errors or {"_schema": [exc.message]}
            else:
                unit_of_work.commit(db.session(), service.after_placing(db.session(), placed, now=utcnow()))
                flash("Your bid is in.", "success")
                return redirect(url_for("bids.edit", pool_id=pool_id))
    else:  # what an expired form left behind, else the vendor's current bid
        mine = service.current_bid(db.session(), pool.id, vendor.id)
        values = restored_values(_values_of(mine) if mine is not None else {})
    views = service.bids_visible_to(db.session(), pool, vendor) if vendor.vendor_profile else []
    own = [view for view in views if view.bid.vendor_id == vendor.id]
    return render_template(
        "bids/edit.html",
        pool=pool,
        values=values,
        errors=errors,
        rows=range(TIER_ROWS),
        own=own,
        best=service.best_unit_price(db.session(), pool),
        is_vendor=vendor.vendor_profile is not None,
        fee=fee_percent(current_terms().fee_bps),
    ), 400 if errors else 200


def _values_of(bid: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"capacity": bid.capacity, "delivery_window": bid.delivery_window, "notes": bid.notes}
    for n, tier in enumerate(bid.tiers):
        values[f"tier_{n}_quantity"] = tier["min_quantity"]
        values[f"tier_{n}_price"] = tier["unit_price"]
    return values


@bp.post("/pools/<int:pool_id>/bid/<int:bid_id>/withdraw")
@login_required
def withdraw(pool_id: int, bid_id: int) -> Any:
    """Withdraw the vendor's bid."""
    service.withdraw_bid(db.session(), pool_id=pool_id, bid_id=bid_id, vendor=require_user(), now=utcnow())
    unit_of_work.commit(db.session())
    flash("Your bid is withdrawn.", "success")
    return redirect(url_for("bids.edit", pool_id=pool_id))
