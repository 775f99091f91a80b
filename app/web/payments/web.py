"""Web pages for settlement: the organiser's console, each line's delivery, disputes and their
thread, the operators' queue, paying again after a decline, vendor payouts.

Every form that moves money asks first (app.web.http.confirmation): the page states what will move,
in money, and the same form is posted again with confirmed=yes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import login_required
from marshmallow import Schema
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app import unit_of_work
from app.accounts.models import User
from app.accounts.service import users_by_id
from app.audit import trail
from app.bids import service as bids
from app.clock import utcnow
from app.errors import NotFound, ValidationFailed
from app.money import format_minor, parse_major
from app.payments import escrow, ledger, on_request, service
from app.payments.delivery import delivery_list
from app.payments.models import Dispute, DisputeStage, Payment, PaymentStatus
from app.payments.rules import DISPUTE_STAGE_LABELS, LineKind, releasable_minor
from app.pools import service as pools
from app.pools.curves import describe
from app.pools.models import Commitment, Pool
from app.reputation.standing import standings
from app.web.auth import require_user
from app.web.extensions import db
from app.web.http import confirmation, csv_download, flash_refusal, load_form
from app.web.payments.provider import current_gateway, current_terms
from app.web.payments.schemas import AnswerIn, DecisionIn, DeliveryIn, DisputeIn, EscalateIn, MessageIn

bp = Blueprint("payments", __name__, template_folder="../../templates")


def _members(pool: Pool) -> list[Commitment]:
    query = select(Commitment).where(Commitment.pool_id == pool.id).options(joinedload(Commitment.member))
    return list(db.session.scalars(query.order_by(Commitment.joined_at)))


@bp.get("/pools/<int:pool_id>/console")
@login_required
def console(pool_id: int) -> Any:
    """The organiser's console: members, bids, award, each line's money, ledger and audit trail."""
    pool = pools.get_organised_pool(db.session(), pool_id, require_user())
    organiser = require_user()
    members = _members(pool)
    return render_template(
        "payments/console.html",
        pool=pool,
        members=members,
        names={c.member_id: c.member for c in members},
        bid_views=(views := bids.bids_visible_to(db.session(), pool, organiser)),
        standings=standings(db.session(), {v.bid.vendor_id for v in views}, now=utcnow()),
        award=bids.award_of(db.session(), pool.id),
        payments=service.payments_of(db.session(), pool.id),
        lines=escrow.line_views(db.session(), pool, organiser),
        statement=ledger.statement(db.session(), pool.id),
        events=trail(db.session(), pool.id, bids_sealed=pool.bids_sealed),
    )


@bp.get("/pools/<int:pool_id>/members.csv")
@login_required
def members_csv(pool_id: int) -> Response:
    """Export the pool's members and their commitments as CSV (organiser)."""
    pool = pools.get_organised_pool(db.session(), pool_id, require_user())
    return csv_download(
        f"pool-{pool.id}-members.csv",
        ["commitment_id", "member", "email", "quantity", "max_unit_price", "demand_curve", "status", "joined_at"],
        (
            [
                c.id,
                c.member.display_name,
                c.member.email,
                c.quantity,
                f"{c.max_unit_price:.4f}",
                describe(c.points),
                c.status,
                c.joined_at.isoformat(),
            ]
            for c in _members(pool)
        ),
    )


@bp.get("/pools/<int:pool_id>/deliveries")
@login_required
def deliveries(pool_id: int) -> Any:
    """A winning vendor's delivery list: the members it serves and where (the organiser: everyone's)."""
    viewer = require_user()
    pool = pools.get_pool(db.session(), pool_id, viewer)
    rows = delivery_list(db.session(), pool, viewer)
    names = users_by_id(db.session(), {row.vendor_id for row in rows})
    vendors = {vendor_id: vendor.public_name for vendor_id, vendor in names.items()}
    return render_template("payments/deliveries.html", pool=pool, rows=rows, vendors=vendors, viewer=viewer)


@bp.get("/pools/<int:pool_id>/deliveries.csv")
@login_required
def deliveries_csv(pool_id: int) -> Response:
    """The delivery list as CSV, for a spreadsheet or a courier's system."""
    viewer = require_user()
    pool = pools.get_pool(db.session(), pool_id, viewer)
    collects = f"collects at {pool.collection_point}" if pool.collection_point else ""
    return csv_download(
        f"pool-{pool.id}-deliveries.csv",
        ["member", "quantity", "unit", "deliver_to", "payment", "vendor_id"],
        (
            [row.display_name, row.quantity, pool.unit, row.address or collects, row.state, row.vendor_id]
            for row in delivery_list(db.session(), pool, viewer)
        ),
    )


@bp.post("/pools/<int:pool_id>/delivery")
@login_required
def confirm_delivery(pool_id: int) -> Any:
    """Confirm delivery of your line (or, organiser of a collection pool, of members' lines): released to the vendor."""
    actor = require_user()
    pool = pools.get_pool(db.session(), pool_id, actor)
    data, errors = load_form(DeliveryIn(), request.form)
    if errors:
        flash("That member is not in this pool.", "error")
        return redirect(url_for("pools.show", pool_id=pool_id))
    back = url_for("pools.show", pool_id=pool_id)
    views = escrow.line_views(db.session(), pool, actor)
    if data["everyone"]:
        chosen, who = [v for v in views if v.state.kind == LineKind.HELD], "every member whose line is held"
    elif data["member_id"] and data["member_id"] != actor.id:
        chosen, who = [v for v in views if v.member_id == data["member_id"]], "this member"
    else:
        chosen, who = [v for v in views if v.member_id == actor.id], "you"
    total = sum(releasable_minor(v.line) for v in chosen if v.state.kind in (LineKind.HELD, LineKind.IN_DISPUTE))
    page = confirmation(
        title="Confirm delivery?",
        consequence=[
            f"This releases {format_minor(total, pool.currency)} to the vendor now, for {who} "
            f"({len(chosen)} line{'s' if len(chosen) != 1 else ''}). It cannot be undone, and a released line can no "
            "longer be disputed.",
            "Nobody else's money moves.",
        ],
        button="Yes, release the money",
        back=back,
    )
    if page is not None:
        return page
    released = escrow.confirm_delivery(
        db.session(), pool_id=pool_id, actor=actor, terms=current_terms(), now=utcnow(), **data
    )
    unit_of_work.commit(db.session())
    flash(
        f"Thanks for confirming delivery: {len(released)} line{'s' if len(released) != 1 else ''} released "
        "to the vendor.",
        "success",
    )
    return redirect(back)


@bp.post("/pools/<int:pool_id>/disputes")
@login_required
def open_dispute(pool_id: int) -> Any:
    """Dispute your own line: its money stays held while the vendor answers."""
    data, errors = load_form(DisputeIn(), request.form)
    if errors:
        flash("To open a dispute, choose what went wrong and describe it (at least 5 characters).", "error")
        return redirect(url_for("pools.show", pool_id=pool_id) + "#delivery-h")
    actor = require_user()
    pools.get_pool(db.session(), pool_id, actor)
    dispute = escrow.open_dispute(
        db.session(), pool_id=pool_id, actor=actor, terms=current_terms(), now=utcnow(), **data
    )
    unit_of_work.commit(db.session())
    flash("Dispute opened. Your money stays held while the vendor answers.", "success")
    return redirect(url_for("payments.dispute", dispute_id=dispute.id))


@bp.get("/disputes")
@login_required
def my_disputes() -> Any:
    """Disputes you are the member or the vendor of."""
    user = require_user()
    found = escrow.disputes_involving(db.session(), user)
    titles = _pool_titles({d.pool_id for d in found})
    return render_template(
        "payments/disputes.html",
        disputes=found,
        titles=titles,
        stages=DISPUTE_STAGE_LABELS,
        heading="Your disputes",
        operator=False,
    )


@bp.get("/admin/disputes")
@login_required
def queue() -> Any:
    """The dispute operators' queue: escalated disputes, oldest escalation first."""
    if not require_user().is_dispute_operator:
        raise NotFound("No such page.")
    found = escrow.escalated_disputes(db.session())
    titles = _pool_titles({d.pool_id for d in found})
    return render_template(
        "payments/disputes.html",
        disputes=found,
        titles=titles,
        stages=DISPUTE_STAGE_LABELS,
        heading="Escalated disputes",
        operator=True,
    )


def _pool_titles(pool_ids: set[int]) -> dict[int, str]:
    if not pool_ids:
        return {}
    return {
        pool_id: title
        for pool_id, title in db.session.execute(select(Pool.id, Pool.title).where(Pool.id.in_(pool_ids)))
    }


@bp.get("/disputes/<int:dispute_id>")
@login_required
def dispute(dispute_id: int) -> Any:
    """A dispute's page: the line, its state, the thread and what the viewer may do next."""
    viewer = require_user()
    found, pool, role = escrow.dispute_for(db.session(), dispute_id, viewer)
    line = db.session.get(Payment, found.payment_id)
    assert line is not None
    names = users_by_id(
        db.session(), {found.member_id, found.vendor_id, pool.organiser_id, *(m.author_id for m in found.messages)}
    )
    return render_template(
        "payments/dispute.html",
        dispute=found,
        pool=pool,
        line=line,
        state=escrow.line_state(line, found),
        role=role,
        names=names,
        stages=DISPUTE_STAGE_LABELS,
        reasons=escrow.REASONS,
        Stage=DisputeStage,
    )


def _back(dispute_id: int) -> str:
    return url_for("payments.dispute", dispute_id=dispute_id)


def _decided(dispute_id: int, decide: Callable[[], Dispute]) -> Any:
    """Make a decision, commit it, make its refund now if the provider answers, and return to the
    dispute; a refund amount the rules refuse is said on the dispute's page and changes nothing."""
    try:
        found = decide()
    except ValidationFailed as exc:
        db.session.rollback()
        flash_refusal(exc)
        return redirect(_back(dispute_id))
    unit_of_work.commit(db.session())
    if found.refund_minor:
        on_request.try_refund(db.session(), current_gateway(), line_id=found.payment_id, now=utcnow())
    flash("Done: the dispute is resolved." if found.stage == DisputeStage.RESOLVED else "Saved.", "success")
    return redirect(_back(found.id))


def _decision_form(dispute_id: int, actor: User, schema: Schema) -> tuple[Payment, dict[str, Any]] | Any:
    """The dispute's line and the submitted form (a typed refund amount as minor units), or the redirect
    back to the dispute with every problem said at once."""
    found, _pool, _role = escrow.dispute_for(db.session(), dispute_id, actor)
    line = _line_of(found)
    form, typo = _money_form(line)
    data, errors = load_form(schema, form)
    if errors or typo:
        _flash_errors(errors, typo)
        return redirect(_back(dispute_id))
    return line, data


def _flash_errors(errors: dict[str, list[str]], typo: list[str]) -> None:
    """Every problem with the form at once, each with the field it concerns."""
    names = {"refund_minor": "Refund", "message": "Message", "answer": "Answer", "outcome": "Outcome", "note": "Note"}
    said = [f"{names.get(field, field)}: {' '.join(msgs)}" for field, msgs in errors.items()]
    flash(" ".join([*(f"Refund: {t}" for t in typo), *said]), "error")


def _money_form(line: Payment) -> tuple[Any, list[str]]:
    """The submitted form with a typed refund amount ("250.00") as refund_minor, and its error if any."""
    form = request.form.copy()
    typed = form.pop("refund_amount", "").strip()
    if typed:
        try:
            form["refund_minor"] = str(parse_major(typed, line.currency))
        except ValueError as exc:
            return form, [str(exc)]
    return form, []


def _line_of(found: Dispute) -> Payment:
    line = db.session.get(Payment, found.payment_id)
    assert line is not None
    return line


@bp.post("/disputes/<int:dispute_id>/answer")
@login_required
def answer(dispute_id: int) -> Any:
    """The vendor answers: refund in full, offer a partial refund, or contest."""
    actor = require_user()
    loaded = _decision_form(dispute_id, actor, AnswerIn())
    if not isinstance(loaded, tuple):
        return loaded
    line, data = loaded
    if data["answer"] != "contest":
        amount = line.amount_minor - line.refunded_minor if data["answer"] == "refund" else data["refund_minor"]
        words = "refunds the member in full" if data["answer"] == "refund" else "offers the member a partial refund"
        page = confirmation(
            title="Refund the member?",
            consequence=f"This {words}: {format_minor(amount, line.currency)} of the "
            f"{format_minor(line.amount_minor, line.currency)} line"
            + (", now." if data["answer"] == "refund" else "; the rest is paid to you if they accept."),
            button="Yes, refund" if data["answer"] == "refund" else "Yes, make the offer",
            back=_back(dispute_id),
            danger=data["answer"] == "refund",
        )
        if page is not None:
            return page
    return _decided(
        dispute_id,
        partial(
            escrow.answer_dispute,
            db.session(),
            dispute_id=dispute_id,
            actor=actor,
            terms=current_terms(),
            now=utcnow(),
            **data,
        ),
    )


@bp.post("/disputes/<int:dispute_id>/accept")
@login_required
def accept(dispute_id: int) -> Any:
    """The member accepts the vendor's partial-refund offer."""
    actor = require_user()
    found, _pool, _role = escrow.dispute_for(db.session(), dispute_id, actor)
    line = _line_of(found)
    offer = found.offer_minor or 0
    page = confirmation(
        title="Accept the offer?",
        consequence=[
            f"You get {format_minor(offer, line.currency)} back, and "
            f"{format_minor(line.amount_minor - line.refunded_minor - offer, line.currency)} is released to the "
            "vendor now.",
            "This ends the dispute.",
        ],
        button="Yes, accept",
        back=_back(dispute_id),
    )
    if page is not None:
        return page
    accept = partial(
        escrow.accept_offer, db.session(), dispute_id=dispute_id, actor=actor, terms=current_terms(), now=utcnow()
    )
    return _decided(dispute_id, accept)


@bp.post("/disputes/<int:dispute_id>/messages")
@login_required
def message(dispute_id: int) -> Any:
    """Write in the dispute's thread."""
    data, errors = load_form(MessageIn(), request.form)
    if errors:
        flash("Write a message first (up to 2,000 characters).", "error")
        return redirect(_back(dispute_id))
    escrow.post_message(db.session(), dispute_id=dispute_id, actor=require_user(), now=utcnow(), **data)
    unit_of_work.commit(db.session())
    return redirect(_back(dispute_id) + "#thread")


@bp.post("/disputes/<int:dispute_id>/escalate")
@login_required
def escalate(dispute_id: int) -> Any:
    """The member or the organiser asks a Buyswarm operator to decide."""
    data, errors = load_form(EscalateIn(), request.form)
    if errors:
        flash("The note is too long (up to 2,000 characters).", "error")
        return redirect(_back(dispute_id))
    escrow.escalate(db.session(), dispute_id=dispute_id, actor=require_user(), now=utcnow(), **data)
    unit_of_work.commit(db.session())
    flash("A Buyswarm operator will decide. The money stays held until then.", "success")
    return redirect(_back(dispute_id))


@bp.post("/disputes/<int:dispute_id>/decision")
@login_required
def decision(dispute_id: int) -> Any:
    """A dispute operator decides: release, refund in full, or refund part."""
    actor = require_user()
    loaded = _decision_form(dispute_id, actor, DecisionIn())
    if not isinstance(loaded, tuple):
        return loaded
    line, data = loaded
    most = line.amount_minor - line.refunded_minor
    refund = {"release": 0, "refund": most}.get(data["outcome"], data["refund_minor"] or 0)
    page = confirmation(
        title="Decide this dispute?",
        consequence=f"The member is refunded {format_minor(refund, line.currency)} and the vendor is paid "
        f"{format_minor(max(0, most - refund), line.currency)} (before the platform fee). This is final.",
        button="Yes, decide",
        back=_back(dispute_id),
        danger=True,
    )
    if page is not None:
        return page
    return _decided(
        dispute_id,
        partial(
            escrow.decide, db.session(), dispute_id=dispute_id, actor=actor, terms=current_terms(), now=utcnow(), **data
        ),
    )


@bp.post("/pools/<int:pool_id>/payment/retry")
@login_required
def retry_payment(pool_id: int) -> Any:
    """After a decline, pay with another card (the newest saved), within the grace window."""
    member = require_user()
    pool = pools.get_pool(db.session(), pool_id, member)
    mine = escrow.line_of(db.session(), pool.id, member.id)
    if mine is None:
        raise NotFound("You have no payment to make in this pool.")
    page = confirmation(
        title="Pay with another card?",
        consequence=f"We will charge {format_minor(mine.amount_minor, mine.currency)} to your newest card now, "
        "at the price the pool cleared at.",
        button=f"Yes, pay {format_minor(mine.amount_minor, mine.currency)}",
        back=url_for("pools.show", pool_id=pool_id),
    )
    if page is not None:
        return page
    paid = on_request.retry_declined(
        db.session(), current_gateway(), pool_id=pool_id, member=member, now=utcnow(), terms=current_terms()
    )
    flash(f"Your payment is {paid.status}.", "success" if paid.status == PaymentStatus.SUCCEEDED else "error")
    return redirect(url_for("pools.show", pool_id=pool_id))


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
        unit_of_work.commit(db.session())
    back = url_for("accounts.profile", _external=True)
    return redirect(
        gateway.account_onboarding_link(account_ref=profile.payout_account_id, refresh_url=back, return_url=back)
    )
