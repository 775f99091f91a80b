"""Web pages of the social layer: discussion posts, invite links, inbox, followed categories, clubs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import login_required
from marshmallow import Schema, fields, validate

from app import unit_of_work
from app.accounts.service import get_user
from app.clock import utcnow
from app.errors import Conflict, ValidationFailed
from app.notifications.service import inbox as inbox_of
from app.pools.models import Commitment, Visibility
from app.pools.rules import CATEGORIES
from app.social import service, threads
from app.web.auth import caller, require_user
from app.web.extensions import db
from app.web.http import load_form
from app.web.schemas import TrimmedString, WholeNumber

bp = Blueprint("social", __name__, template_folder="../../templates")
INVITES_KEY = "invites"  # session: [[pool id, invite code], ...] of invite links followed, oldest first
MAX_REMEMBERED_INVITES = 20


class ClubIn(Schema):
    name = TrimmedString(required=True, validate=validate.Length(min=2, max=80),
                         error_messages={"required": "Give your club a name."})  # fmt: skip
    slug = TrimmedString(load_default=None, validate=validate.Length(max=60))
    description = TrimmedString(load_default="", validate=validate.Length(max=2000))


class FollowIn(Schema):
    categories = fields.List(fields.String(), load_default=list)


class ReadIn(Schema):
    notification_id = WholeNumber(load_default=None)


class AttachIn(Schema):
    pool_id = WholeNumber(required=True, error_messages={"required": "Choose one of your pools."})


def _pool_url(pool_id: int, anchor: str = "discussion") -> str:
    return url_for("pools.show", pool_id=pool_id) + "#" + anchor


@bp.post("/pools/<int:pool_id>/posts")
@login_required
def add_post(pool_id: int) -> Any:
    """Post to a pool's discussion; a bad post is shown again with what was typed."""
    body = request.form.get("body", "")
    try:
        service.add_post(db.session(), pool_id=pool_id, author=require_user(), body=body, now=utcnow())
    except ValidationFailed as exc:
        db.session.rollback()
        pool = service.get_visible_pool(db.session(), pool_id, caller())
        return render_template("social/post_form.html", pool=pool, values={"body": body}, errors=exc.errors), 400
    unit_of_work.commit(db.session())
    flash("Posted.", "success")
    return redirect(_pool_url(pool_id))


@bp.get("/pools/<int:pool_id>/threads/<int:vendor_id>")
@login_required
def thread(pool_id: int, vendor_id: int) -> Any:
    """The delivery thread between a winning vendor and the members it serves."""
    return _thread_page(threads.open_thread(db.session(), pool_id, vendor_id, require_user()))


@bp.post("/pools/<int:pool_id>/threads/<int:vendor_id>")
@login_required
def write_to_thread(pool_id: int, vendor_id: int) -> Any:
    """Write to a delivery thread; a bad message is shown again with what was typed."""
    body = request.form.get("body", "")
    author = require_user()
    try:
        threads.post_message(db.session(), pool_id=pool_id, vendor_id=vendor_id, author=author, body=body, now=utcnow())
    except ValidationFailed as exc:
        db.session.rollback()
        thread = threads.open_thread(db.session(), pool_id, vendor_id, author)
        return _thread_page(thread, values={"body": body}, errors=exc.errors), 400
    unit_of_work.commit(db.session())
    flash("Sent.", "success")
    return redirect(url_for("social.thread", pool_id=pool_id, vendor_id=vendor_id))


def _thread_page(
    thread: threads.Thread, values: dict[str, str] | None = None, errors: dict[str, list[str]] | None = None
) -> str:
    vendor = get_user(db.session(), thread.vendor_id)
    return render_template(
        "social/thread.html",
        thread=thread,
        pool=thread.pool,
        vendor=vendor,
        messages=threads.messages(db.session(), thread),
        values=values or {},
        errors=errors or {},
    )


@bp.post("/posts/<int:post_id>/pin")
@login_required
def pin(post_id: int) -> Any:
    """Pin or unpin a post (the pool's organiser)."""
    pinned = request.form.get("pinned", "1") != "0"
    post = service.set_pinned(db.session(), post_id=post_id, actor=require_user(), pinned=pinned, now=utcnow())
    pool_id = post.pool_id
    unit_of_work.commit(db.session())
    flash("Post pinned to the top." if pinned else "Post unpinned.", "success")
    return redirect(_pool_url(pool_id))


@bp.post("/posts/<int:post_id>/hide")
@login_required
def hide(post_id: int) -> Any:
    """Hide or show a post (the pool's organiser); hidden posts stay visible to their author."""
    hidden = request.form.get("hidden", "1") != "0"
    post = service.set_hidden(db.session(), post_id=post_id, actor=require_user(), hidden=hidden, now=utcnow())
    pool_id = post.pool_id
    unit_of_work.commit(db.session())
    flash("Post hidden from everyone but its author." if hidden else "Post shown again.", "success")
    return redirect(_pool_url(pool_id))


@bp.post("/pools/<int:pool_id>/invite")
@login_required
def invite(pool_id: int) -> Any:
    """Make (or find) the caller's invite link to the pool."""
    service.invite_for(db.session(), pool_id=pool_id, inviter=require_user(), now=utcnow())
    unit_of_work.commit(db.session())
    flash("Your invite link is ready: share it, and see how many join through it.", "success")
    return redirect(_pool_url(pool_id, "invite"))


@bp.get("/i/<code>")
def follow_invite(code: str) -> Any:
    """Remember the invite for when the visitor joins, and show them the pool."""
    invite = service.invite_by_code(db.session(), code)
    user = caller()
    pool = service.follow_invite(db.session(), invite, user, utcnow())
    unit_of_work.commit(db.session())
    remembered = [pair for pair in session.get(INVITES_KEY, []) if pair[0] != pool.id]
    # A list, not a dict: the session serialiser sorts dict keys. The cookie has room for a few dozen.
    session[INVITES_KEY] = [*remembered[-(MAX_REMEMBERED_INVITES - 1) :], [pool.id, invite.code]]
    if user is None and pool.visibility == Visibility.UNLISTED:  # seen through its link until they sign in
        return redirect(url_for("pools.show_by_link", token=pool.link_token))
    return redirect(url_for("pools.show", pool_id=pool.id))


def record_pending_invite(commitment: Commitment) -> None:
    """After a join, credit the invite link the member followed to this pool (call before commit)."""
    remembered = session.get(INVITES_KEY, [])
    code = next((code for pool_id, code in remembered if pool_id == commitment.pool_id), None)
    if code is not None:
        service.record_invite_join(db.session(), code, commitment, utcnow())
        session[INVITES_KEY] = [pair for pair in remembered if pair[0] != commitment.pool_id]


@bp.get("/inbox")
@login_required
def inbox() -> Any:
    """The caller's notifications, newest first."""
    user = require_user()
    notes = inbox_of(db.session(), user.id)
    return render_template("social/inbox.html", notes=notes, unread=service.unread_count(db.session(), user))


@bp.post("/inbox/read")
@login_required
def mark_read() -> Any:
    """Mark every notification (or the one given) read."""
    data, errors = load_form(ReadIn(), request.form)
    if not errors:
        service.mark_read(db.session(), user=require_user(), now=utcnow(), **data)
        unit_of_work.commit(db.session())
    return redirect(url_for("social.inbox"))


@bp.route("/following", methods=["GET", "POST"])
@login_required
def following() -> Any:
    """Choose the categories to follow and see their open pools."""
    user = require_user()
    errors: dict[str, list[str]] = {}
    chosen = service.followed_categories(db.session(), user)
    if request.method == "POST":
        data, errors = load_form(FollowIn(), request.form)
        chosen = request.form.getlist("categories")
        if not errors:
            try:
                service.set_followed_categories(db.session(), user=user, categories=data["categories"], now=utcnow())
            except ValidationFailed as exc:
                db.session.rollback()
                errors = exc.errors
            else:
                unit_of_work.commit(db.session())
                flash("Saved. Pools in these categories are listed below.", "success")
                return redirect(url_for("social.following"))
    pools = service.pools_in_followed_categories(db.session(), user, now=utcnow())
    page = render_template("social/following.html", chosen=chosen, errors=errors, pools=pools, categories=CATEGORIES)
    return page, 400 if errors else 200


@bp.get("/clubs")
def clubs() -> Any:
    """Every club, the caller's first."""
    return render_template("social/clubs.html", clubs=service.clubs_overview(db.session(), caller()))


@bp.route("/clubs/new", methods=["GET", "POST"])
@login_required
def new_club() -> Any:
    """Start a club."""
    values: dict[str, Any] = request.form.to_dict()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = load_form(ClubIn(), request.form)
        if not errors:
            try:
                club = service.create_club(db.session(), owner=require_user(), now=utcnow(), **data)
            except ValidationFailed as exc:
                db.session.rollback()
                errors = exc.errors
            else:
                slug = club.slug
                unit_of_work.commit(db.session())
                flash("Your club is ready. Invite people to join it.", "success")
                return redirect(url_for("social.club", slug=slug))
    return render_template("social/club_form.html", values=values, errors=errors), 400 if errors else 200


def _club_page(slug: str, *, error: str | None = None, status: int = 200) -> Any:
    club = service.get_club(db.session(), slug)
    viewer = caller()
    return render_template(
        "social/club.html",
        club=club,
        members=service.club_members(db.session(), club),
        mine=service.membership(db.session(), club.id, viewer.id if viewer else None),
        pools=service.club_pools(db.session(), club, viewer),
        attachable=service.attachable_pools(db.session(), club, viewer),
        error=error,
    ), status


@bp.get("/clubs/<slug>")
def club(slug: str) -> Any:
    """A club: what it is, its members and its pools."""
    return _club_page(slug)


@bp.post("/clubs/<slug>/join")
@login_required
def join_club(slug: str) -> Any:
    """Join a club."""
    try:
        service.join_club(db.session(), club=service.get_club(db.session(), slug), user=require_user(), now=utcnow())
    except Conflict as exc:
        db.session.rollback()
        return _club_page(slug, error=exc.message, status=409)
    unit_of_work.commit(db.session())
    flash("Welcome to the club! You now see its members-only pools.", "success")
    return redirect(url_for("social.club", slug=slug))


@bp.post("/clubs/<slug>/leave")
@login_required
def leave_club(slug: str) -> Any:
    """Leave a club."""
    try:
        service.leave_club(db.session(), club=service.get_club(db.session(), slug), user=require_user(), now=utcnow())
    except Conflict as exc:
        db.session.rollback()
        return _club_page(slug, error=exc.message, status=409)
    unit_of_work.commit(db.session())
    flash("You left the club.", "success")
    return redirect(url_for("social.club", slug=slug))


@bp.post("/clubs/<slug>/pools")
@login_required
def attach_pool(slug: str) -> Any:
    """Make one of your pools a pool of this club."""
    club = service.get_club(db.session(), slug)
    data, errors = load_form(AttachIn(), request.form)
    if errors:
        return _club_page(slug, error="Choose one of your pools.", status=400)
    pool = service.get_visible_pool(db.session(), data["pool_id"], require_user())
    try:
        service.attach_pool(db.session(), club=club, pool=pool, actor=require_user(), now=utcnow())
    except Conflict as exc:
        db.session.rollback()
        return _club_page(slug, error=exc.message, status=409)
    unit_of_work.commit(db.session())
    flash("The pool now belongs to the club.", "success")
    return redirect(url_for("social.club", slug=slug))
