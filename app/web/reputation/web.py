"""Web pages for reputation: public profiles, feedback forms on settled pools, replies."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from app import unit_of_work
from app.accounts.service import get_user, users_by_id
from app.accounts.vendors import accounts_of_identity
from app.clock import utcnow
from app.errors import Conflict, TooMany, ValidationFailed
from app.pools import service as pools
from app.reputation import flags, levels, rules, service
from app.reputation.models import FlagReason
from app.reputation.profile import reputation_view
from app.web.auth import caller, require_user
from app.web.extensions import db
from app.web.http import flash_refusal, load_form
from app.web.reputation.schemas import FeedbackChoiceIn, FlagDecisionIn, FlagIn
from app.web.schemas import PageQuery

bp = Blueprint("reputation", __name__, template_folder="../../templates")


@bp.get("/users/<int:user_id>")
def profile(user_id: int) -> Any:
    """A user's public profile: reputation and the feedback they received."""
    user = get_user(db.session(), user_id)
    query, errors = load_form(PageQuery(), request.args)
    page = 1 if errors else int(query["page"])  # a page it cannot read: the first
    received = service.visible_feedback(db.session(), ratee_id=user.id, viewer=caller(), page=page)
    return render_template(
        "reputation/profile.html",
        user=user,
        rep=reputation_view(db.session(), user.id, utcnow()),
        also=accounts_of_identity(db.session(), user) if user.vendor_profile else [],
        received=received,
        page=page,
        criteria_labels=rules.CRITERION_LABELS,
        flag_reasons=flags.REASON_LABELS,
    )


@bp.get("/reputation/levels")
def levels_explained() -> Any:
    """The published thresholds of the seller levels, and what trust means."""
    return render_template("reputation/levels.html", rules=levels.RULES)


def feedback_context(pool: Any, viewer: Any) -> dict[str, Any]:
    """What the pool page needs to offer feedback forms to a party of a settled pool."""
    if viewer is None:
        return {"rateable": [], "given": {}}
    given = {f.ratee_id: f for f in service.my_feedback(db.session(), pool_id=pool.id, rater=viewer)}
    parties = service.rateable(db.session(), pool, viewer)
    people = users_by_id(db.session(), (p.ratee_id for p in parties))  # one query, however many parties
    names = {p.ratee_id: people[p.ratee_id].display_name for p in parties}
    return {
        "rateable": [(p, names[p.ratee_id], rules.CRITERIA[p.direction]) for p in parties],
        "given": given,
        "criteria_labels": rules.CRITERION_LABELS,
    }


@bp.post("/pools/<int:pool_id>/feedback")
@login_required
def leave(pool_id: int) -> Any:
    """Leave feedback for another party of a settled pool."""
    rater = require_user()
    pools.get_pool(db.session(), pool_id, rater)
    choice, errors = load_form(FeedbackChoiceIn(), request.form)
    if errors:
        flash("Choose whether your experience was positive, neutral or negative.", "error")
        return redirect(url_for("pools.show", pool_id=pool_id) + "#feedback")
    ratee_id, rating = choice["ratee_id"], choice["rating"]
    by_criterion = {
        key[6:]: int(value) for key, value in request.form.items() if key.startswith("score_") and value.isdigit()
    }
    try:
        service.leave_feedback(
            db.session(),
            pool_id=pool_id,
            rater=rater,
            ratee_id=ratee_id,
            rating=rating,
            scores_by_criterion=by_criterion,
            comment=request.form.get("comment", "").strip(),
            now=utcnow(),
        )
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        flash_refusal(exc)
    else:
        unit_of_work.commit(db.session())
        flash("Thanks! Your feedback stays hidden until they rate you too, or the feedback window ends.", "success")
    return redirect(url_for("pools.show", pool_id=pool_id) + "#feedback")


@bp.post("/feedback/<int:feedback_id>/flag")
@login_required
def flag(feedback_id: int) -> Any:
    """Flag feedback you received; an operator decides."""
    user = require_user()
    data, errors = load_form(FlagIn(), request.form)
    if errors:
        flash(" ".join(m for ms in errors.values() for m in ms), "error")
        return redirect(url_for("reputation.profile", user_id=user.id))
    try:
        flags.flag_feedback(db.session(), feedback_id=feedback_id, flagger=user, reason=FlagReason(data["reason"]),
                            note=data["note"], now=utcnow())  # fmt: skip
    except (ValidationFailed, Conflict, TooMany) as exc:
        db.session.rollback()
        flash_refusal(exc)
    else:
        unit_of_work.commit(db.session())
        flash("Thanks: an operator will look at this feedback. It stays until they decide.", "success")
    return redirect(url_for("reputation.profile", user_id=user.id))


@bp.get("/admin/feedback-flags")
@login_required
def flag_queue() -> Any:
    """The operators' queue of flagged feedback."""
    queue = flags.open_flags(db.session(), require_user())
    names = users_by_id(db.session(), {f.feedback.ratee_id for f in queue})
    return render_template("reputation/flags.html", flags=queue, names=names, reasons=flags.REASON_LABELS)


@bp.post("/admin/feedback-flags/<int:flag_id>")
@login_required
def decide_flag(flag_id: int) -> Any:
    """Uphold or reject a flag (operators)."""
    data, errors = load_form(FlagDecisionIn(), request.form)
    if errors:
        flash("Choose to uphold or reject the flag.", "error")
        return redirect(url_for("reputation.flag_queue"))
    try:
        decided = flags.decide_flag(db.session(), flag_id=flag_id, operator=require_user(), uphold=data["uphold"],
                                    now=utcnow())  # fmt: skip
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        unit_of_work.commit(db.session())
        flash("Upheld: the feedback is removed from scores." if decided.status == "upheld" else "Rejected: it stays.",
              "success")  # fmt: skip
    return redirect(url_for("reputation.flag_queue"))


@bp.post("/feedback/<int:feedback_id>/reply")
@login_required
def reply(feedback_id: int) -> Any:
    """Reply publicly to feedback you received."""
    user = require_user()
    try:
        service.reply(
            db.session(), feedback_id=feedback_id, ratee=user, text=request.form.get("reply", "").strip(), now=utcnow()
        )
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        flash_refusal(exc)
    else:
        unit_of_work.commit(db.session())
        flash("Your reply is published.", "success")
    return redirect(url_for("reputation.profile", user_id=user.id))
