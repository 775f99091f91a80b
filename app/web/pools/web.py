"""Web pages for pools: home, browse, pool page, create/edit, publish/cancel, join/withdraw."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from time import monotonic
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.datastructures import MultiDict

from app import unit_of_work
from app.accounts.models import User
from app.accounts.service import users_by_id
from app.bids import award
from app.bids import service as bids
from app.bids.outlook import Outlook
from app.bids.service import has_active_bid
from app.clock import utcnow
from app.errors import ValidationFailed
from app.money import CURRENCIES, format_minor, format_price
from app.payments import escrow
from app.payments.rules import line_state
from app.pools import commitments, lifecycle, service
from app.pools.models import CommitmentStatus, Pool, PoolStatus, Visibility
from app.reputation.scores import price_factors
from app.reputation.standing import standings
from app.web.auth import caller, require_user
from app.web.extensions import db
from app.web.http import confirmation, load_form, restored_values
from app.web.payments.provider import save_card
from app.web.pools.schemas import CommitmentForm, PoolIn, PoolQuery
from app.web.reputation.web import feedback_context
from app.web.social.context import pool_social_context
from app.web.social.web import record_pending_invite

bp = Blueprint("pools", __name__, template_folder="../../templates")


@bp.get("/")
def home() -> Any:
    """Show pools closing soon and the newest pools."""
    now = utcnow()
    soon = service.search_pools(db.session(), now=now, closing_soon=True, per_page=6)
    newest = service.search_pools(db.session(), now=now, status=PoolStatus.OPEN, per_page=6)
    return render_template("pools/home.html", soon=soon.items, newest=newest.items)


@bp.get("/pools")
def index() -> Any:
    """Browse and search public pools."""
    query, errors = load_form(PoolQuery(), request.args)
    if errors:
        query = PoolQuery().load({})
    if "status" not in request.args:
        query["status"] = PoolStatus.OPEN.value  # people browsing want what they can still join
    found = service.search_pools(db.session(), now=utcnow(), per_page=current_app.config["PAGE_SIZE"], **query)
    return render_template("pools/index.html", found=found, query=query, errors=errors)


@bp.get("/pools/<int:pool_id>")
def show(pool_id: int) -> Any:
    """Show a pool: demand against the tipping point, time left, and the member's commitment."""
    return _pool_page(service.get_pool(db.session(), pool_id, caller()))


@bp.get("/p/<token>")
def show_by_link(token: str) -> Any:
    """An unlisted pool's share link: a signed-in visitor may reach the pool by id from now on."""
    user = caller()
    pool = service.open_link(db.session(), token, user, utcnow())
    unit_of_work.commit(db.session())
    if user is not None or pool.visibility != Visibility.UNLISTED:
        return redirect(url_for("pools.show", pool_id=pool.id))
    return _pool_page(pool, live_url=url_for("pools.live_by_link", token=token))


@bp.get("/pools/<int:pool_id>/live.json")
def live(pool_id: int) -> Any:
    """What the pool page refreshes without reloading: demand, progress, best price, time left."""
    return _live(service.get_pool(db.session(), pool_id, caller()))


@bp.get("/p/<token>/live.json")
def live_by_link(token: str) -> Any:
    """The live figures of a pool seen through its share link."""
    return _live(service.open_link(db.session(), token, None, utcnow()))


# What each open pool would clear at now, per process: clearing a pool of 100,000 commitments takes
# about a second, and every viewer's page polls live.json. An entry serves while the pool's demand
# (pools.updated_at moves with every commitment change) and its active bids are as they were, and
# for at most OUTLOOK_TTL seconds (reputation factors change on their own). A process's cache
# only saves work: every entry is checked against the database on use.
OUTLOOK_TTL = 30.0
_outlooks: dict[int, tuple[float, tuple[Any, ...], Outlook | None]] = {}


def _market(pool: Pool) -> bids.Market:
    """The auction as the pool page shows it, with what it would clear at now."""
    return bids.market_view(db.session(), pool, _outlook(pool))


def _outlook(pool: Pool) -> Outlook | None:
    if pool.status != PoolStatus.OPEN:
        return None
    # The link token is random per pool: a database rebuilt under the same ids matches no entry.
    version = (
        pool.link_token,
        pool.updated_at,
        pool.committed_quantity,
        bids.active_bids_version(db.session(), pool.id),
    )
    cached = _outlooks.get(pool.id)
    if cached is not None and cached[1] == version and cached[0] > monotonic():
        return cached[2]
    outlook = award.market_outlook(db.session(), pool, price_factors)
    if len(_outlooks) > 1_000:
        _outlooks.clear()
    _outlooks[pool.id] = (monotonic() + OUTLOOK_TTL, version, outlook)
    return outlook


def _live(pool: Pool, market: bids.Market | None = None) -> dict[str, Any]:
    """The figures the pool page shows and live.json refreshes (one place for their words)."""
    market = market or _market(pool)
    drop = market.next_drop
    now = market.outlook
    return {
        "status": pool.status,
        "committed_quantity": pool.committed_quantity,
        "member_count": pool.member_count,
        "progress_pct": pool.progress_pct,
        "has_tipped": pool.has_tipped,
        "best_unit_price": f"{market.best:.4f}" if market.best is not None else None,
        "best_price_text": format_price(market.best, pool.currency) if market.best is not None else None,
        "next_drop_text": _drop_text(pool, drop, cleared=now is not None and now.unit_price is not None),
        "no_clearing_text": NO_CLEARING if now is not None else None,
        "clearing": None
        if now is None or now.unit_price is None
        else {
            "unit_price": f"{now.unit_price:.4f}",
            "served_quantity": now.served_quantity,
            "vendors": now.vendors,
            "text": _clearing_text(pool, now),
        },
        "closes_at": pool.closes_at.isoformat(),
        "bidders": market.bidders,
    }


NO_CLEARING = "Closing now, no vendor could serve the members at a price they accept."


def _drop_text(pool: Pool, drop: tuple[int, Decimal] | None, *, cleared: bool) -> str | None:
    """ "N more units and the price drops to P." (or "... and it clears at P" when it would not clear now)."""
    if drop is None:
        return None
    units, price = drop
    outcome = "the price drops to" if cleared else "it would clear at"
    return f"{units:,} more {pool.unit} wanted and {outcome} {format_price(price, pool.currency)}."


def _clearing_text(pool: Pool, now: Outlook) -> str:
    """ "Closing now: 40 panel served at £100.00 each, by 2 vendors." """
    assert now.unit_price is not None
    vendors = f"{now.vendors} vendors" if now.vendors != 1 else "1 vendor"
    return (
        f"Closing now: {now.served_quantity:,} {pool.unit} served at "
        f"{format_price(now.unit_price, pool.currency)} each, by {vendors}."
    )


def _pool_page(
    pool: Pool,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    live_url: str | None = None,
) -> Any:
    user = caller()
    mine = commitments.find_commitment(db.session(), pool_id=pool.id, member_id=user.id) if user else None
    if mine is not None and not mine.is_active and mine.status == CommitmentStatus.WITHDRAWN:
        mine = None
    if values is None:
        values = restored_values({}) or None
    if values is None and mine is not None:
        values = {"delivery_address": mine.delivery_address or ""}
        for n, point in enumerate(mine.points, start=1):
            suffix = "" if n == 1 else f"_{n}"
            values[f"quantity{suffix}"] = point.quantity
            values[f"max_unit_price{suffix}"] = f"{point.max_unit_price.normalize():f}"
    has_award = pool.status in lifecycle.CLOSED and pool.status != PoolStatus.FAILED
    awarded = bids.award_visible_to(db.session(), pool, user) if has_award else None
    winners = users_by_id(db.session(), [w.vendor_id for w in awarded.winners]) if awarded else {}
    market = _market(pool)
    served_me = [line.vendor_id for line in awarded.served if line.member_id == user.id] if awarded and user else []
    return render_template(
        "pools/show.html",
        pool=pool,
        mine=mine,
        values=values or {},
        errors=errors or {},
        is_organiser=pool.is_organised_by(user),
        market=market,
        live=_live(pool, market),
        award=awarded,
        winners={vendor_id: vendor.public_name for vendor_id, vendor in winners.items()},
        standings=standings(db.session(), winners, now=utcnow()),
        winner_profiles={vendor_id: vendor.vendor_profile for vendor_id, vendor in winners.items()},
        my_vendor=served_me[0] if served_me else None,
        my_line=_my_line(pool, user) if mine is not None and user is not None else None,
        feedback=feedback_context(pool, user),
        social=pool_social_context(db.session(), pool, user, request.host_url),
        live_url=live_url or url_for("pools.live", pool_id=pool.id),
        share_url=url_for("pools.show_by_link", token=pool.link_token, _external=True)
        if pool.is_organised_by(user) and pool.visibility == Visibility.UNLISTED
        else None,
        now=utcnow(),
    ), 400 if errors else 200


def _my_line(pool: Pool, member: User) -> escrow.LineView | None:
    """The viewer's own served line, with its state and dispute."""
    line = escrow.line_of(db.session(), pool.id, member.id)
    if line is None:
        return None
    dispute = escrow.dispute_of(db.session(), line.id)
    return escrow.LineView(line, line_state(line, dispute), dispute)


def _form_options() -> dict[str, Any]:
    return {"currency_options": [(code, code) for code in sorted(CURRENCIES)]}


def _pool_form_data() -> MultiDict[str, str]:
    """The submitted pool form; the closing time is entered in UTC (the field says so)."""
    form = MultiDict(request.form)
    closes_at = form.get("closes_at", "")
    if closes_at and len(closes_at) <= 19 and "+" not in closes_at and not closes_at.endswith("Z"):
        form["closes_at"] = closes_at + ("+00:00" if len(closes_at) > 16 else ":00+00:00")
    return form


@bp.route("/pools/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    """Create a pool in draft."""
    values: dict[str, Any] = request.form.to_dict() or restored_values(
        {
            "currency": "GBP",
            "min_decrement_pct": "1.00",
            "soft_close_minutes": 10,
            "max_extensions": 3,
        }
    )
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = load_form(PoolIn(), _pool_form_data())
        if not errors:
            try:
                pool = service.create_pool(db.session(), organiser=require_user(), values=data, now=utcnow())
            except ValidationFailed as exc:
                errors = exc.errors
            else:
                unit_of_work.commit(db.session())
                flash("Draft saved. Check it, then publish it to open it to members and vendors.", "success")
                return redirect(url_for("pools.show", pool_id=pool.id))
    return render_template(
        "pools/form.html", pool=None, values=values, errors=errors, **_form_options()
    ), 400 if errors else 200


@bp.route("/pools/<int:pool_id>/edit", methods=["GET", "POST"])
@login_required
def edit(pool_id: int) -> Any:
    """Edit a draft pool (organiser only)."""
    user = require_user()
    pool = service.get_organised_pool(db.session(), pool_id, user)
    values: dict[str, Any] = request.form.to_dict() or restored_values(_values_of(pool))
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = load_form(PoolIn(), _pool_form_data())
        if not errors:
            blank = {"max_quantity": None, "max_per_member": None, "min_vendor_trust": None, "description": ""}
            data = blank | data  # blank = cleared
            try:
                service.update_pool(db.session(), pool_id=pool_id, actor=user, values=data, now=utcnow())
            except ValidationFailed as exc:
                errors = exc.errors
            else:
                unit_of_work.commit(db.session())
                flash("Changes saved.", "success")
                return redirect(url_for("pools.show", pool_id=pool_id))
    return render_template(
        "pools/form.html", pool=pool, values=values, errors=errors, **_form_options()
    ), 400 if errors else 200


def _values_of(pool: Pool) -> dict[str, Any]:
    values = {name: getattr(pool, name) for name in service.EDITABLE_FIELDS}
    values["closes_at"] = pool.closes_at.strftime("%Y-%m-%dT%H:%M")
    values["delivery_to_organiser"] = "true" if pool.delivery_to_organiser else "false"
    values["needs_address"] = "true" if pool.needs_address else "false"
    values["allow_unverified_vendors"] = "true" if pool.allow_unverified_vendors else "false"
    return {k: ("" if v is None else v) for k, v in values.items()}


@bp.post("/pools/<int:pool_id>/publish")
@login_required
def publish(pool_id: int) -> Any:
    """Publish a draft pool."""
    try:
        lifecycle.publish_pool(db.session(), pool_id=pool_id, actor=require_user(), now=utcnow())
    except ValidationFailed as exc:
        db.session.rollback()
        flash(" ".join([exc.message, *(msg for msgs in exc.errors.values() for msg in msgs)]), "error")
        return redirect(url_for("pools.edit", pool_id=pool_id))
    unit_of_work.commit(db.session())
    flash("Your pool is open. Share it so people can join!", "success")
    return redirect(url_for("pools.show", pool_id=pool_id))


@bp.post("/pools/<int:pool_id>/close")
@login_required
def close(pool_id: int) -> Any:
    """Close the pool now and clear it (organiser), once the organiser has seen what it does."""
    pool = service.get_organised_pool(db.session(), pool_id, require_user())
    if pool.status == PoolStatus.OPEN:
        preview = award.preview_close(db.session(), pool, price_factors)
        if preview.members_charged:
            consequence = [
                f"{preview.members_charged} member{'s' if preview.members_charged != 1 else ''} will be charged "
                f"{format_minor(preview.total_minor, pool.currency)} now, at "
                f"{format_price(preview.unit_price or Decimal(0), pool.currency)} per {pool.unit}.",
                "Bidding and joining end, and this cannot be undone.",
            ]
        elif preview.shortfall:
            consequence = [f"This fails the pool: {preview.shortfall} more {pool.unit} were needed to tip it. "
                           "Nobody is charged, and this cannot be undone."]  # fmt: skip
        else:
            consequence = [f"This fails the pool: {preview.note}. Nobody is charged, and this cannot be undone."]
        page = confirmation(
            title=f"Close “{pool.title}” now?",
            consequence=consequence,
            button="Yes, close it now",
            back=url_for("pools.show", pool_id=pool_id),
            danger=not preview.members_charged,
        )
        if page is not None:
            return page
    pool = award.close_pool(
        db.session(), pool_id=pool_id, actor=require_user(), now=utcnow(), price_factors=price_factors
    )
    unit_of_work.commit(db.session())
    flash(
        "The pool is closed and awarded."
        if pool.status == PoolStatus.AWARDED
        else "The pool is closed. " + (pool.outcome_note or ""),
        "success",
    )
    return redirect(url_for("pools.show", pool_id=pool_id))


@bp.post("/pools/<int:pool_id>/cancel")
@login_required
def cancel(pool_id: int) -> Any:
    """Cancel a draft or open pool, once the organiser has seen what it does."""
    pool = service.get_organised_pool(db.session(), pool_id, require_user())
    if pool.status in (PoolStatus.DRAFT, PoolStatus.OPEN):
        members = (
            f"its {pool.member_count} member{'s' if pool.member_count != 1 else ''} are told"
            if pool.member_count
            else "nobody has joined yet"
        )
        page = confirmation(
            title=f"Cancel “{pool.title}”?",
            consequence=[f"The pool ends now and nobody is charged; {members}. This cannot be undone."],
            button="Yes, cancel the pool",
            back=url_for("pools.show", pool_id=pool_id),
            danger=True,
        )
        if page is not None:
            return page
    lifecycle.cancel_pool(db.session(), pool_id=pool_id, actor=require_user(), now=utcnow())
    unit_of_work.commit(db.session())
    flash("The pool is cancelled. Nobody will be charged.", "success")
    return redirect(url_for("pools.show", pool_id=pool_id))


@bp.post("/pools/<int:pool_id>/commitment")
@login_required
def commit(pool_id: int) -> Any:
    """Join the pool or change the member's commitment."""
    pool = service.get_pool(db.session(), pool_id, require_user())
    data, errors = load_form(CommitmentForm(), request.form)
    if not errors:
        try:
            made, created = commitments.commit(
                db.session(), bids_on_pool=has_active_bid, pool_id=pool_id, member=require_user(), now=utcnow(), **data
            )
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            record_pending_invite(made)
            unit_of_work.commit(db.session(), [partial(save_card, made.id)])
            flash("You're in! We'll tell you when the pool closes." if created else "Commitment updated.", "success")
            return redirect(url_for("pools.show", pool_id=pool_id))
    db.session.rollback()
    return _pool_page(pool, values=request.form.to_dict(), errors=errors)


@bp.post("/pools/<int:pool_id>/commitment/withdraw")
@login_required
def withdraw(pool_id: int) -> Any:
    """Withdraw the member's commitment."""
    commitments.withdraw(db.session(), pool_id=pool_id, member=require_user(), now=utcnow())
    unit_of_work.commit(db.session())
    flash("You have left the pool. You can rejoin while it is open.", "success")
    return redirect(url_for("pools.show", pool_id=pool_id))


@bp.get("/my/pools")
@login_required
def mine() -> Any:
    """The pools the user organises and the ones they joined."""
    user = require_user()
    return render_template(
        "pools/mine.html",
        organised=service.pools_organised_by(db.session(), user),
        joined=service.commitments_of(db.session(), user),
    )
