"""Web pages for accounts: sign up, log in and out, profile, API tokens, becoming a vendor."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import login_required, login_user, logout_user

from app import unit_of_work
from app.accounts import service, vendors
from app.clock import utcnow
from app.errors import Conflict, ValidationFailed
from app.web.accounts.schemas import (
    LoginIn,
    NewTokenIn,
    PasswordChangeIn,
    PasswordForgotIn,
    PasswordResetIn,
    PayoutIdentityIn,
    ProfileIn,
    RegisterIn,
    VendorIn,
)
from app.web.accounts.vendors import give_payout_identity
from app.web.auth import caller, require_user
from app.web.extensions import LOGIN_RATE, db, limiter
from app.web.http import back_to, load_form, restored_values

bp = Blueprint("accounts", __name__, template_folder="../../templates")


CHECK_EMAIL = (
    "Thanks! We sent a link to {email} to confirm the address (if you already have an account, the email "
    "says so instead). You can log in now; you can join pools and bid once the address is confirmed."
)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(LOGIN_RATE, methods=["POST"])
def register() -> Any:
    """Create an account; its address is confirmed by email, and the answer is the same for a taken address."""
    values: dict[str, Any] = request.form.to_dict() if request.method == "POST" else restored_values({})
    values.pop("password", None)  # never echo a password back into the page
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = load_form(RegisterIn(), request.form)
        if not errors:
            service.register(db.session(), now=utcnow(), **data)
            unit_of_work.commit(db.session())
            flash(CHECK_EMAIL.format(email=data["email"]), "success")
            return redirect(url_for("accounts.login", next=request.args.get("next") or None))
    return render_template("accounts/register.html", values=values, errors=errors), 400 if errors else 200


@bp.get("/verify/<token>")
def verify_email(token: str) -> Any:
    """Confirm an address from the emailed link, and log its owner in."""
    user = service.confirm_email(db.session(), secret=_secret(), token=token, now=utcnow())
    unit_of_work.commit(db.session())
    session.clear()
    login_user(user)
    flash("Your email address is confirmed. Welcome to Buyswarm!", "success")
    return redirect(url_for("pools.home"))


@bp.post("/account/verify")
@login_required
def resend_confirmation() -> Any:
    """Email the confirmation link again."""
    service.send_confirmation(db.session(), require_user(), now=utcnow())
    unit_of_work.commit(db.session())
    flash("We sent the link again. It can take a minute to arrive.", "success")
    return redirect(url_for("accounts.profile"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(LOGIN_RATE, methods=["POST"])
def forgot_password() -> Any:
    """Ask for a password-reset link; the answer does not say whether the address has an account."""
    values = {"email": request.form.get("email", "")}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = load_form(PasswordForgotIn(), request.form)
        if not errors:
            service.request_password_reset(db.session(), email=data["email"], now=utcnow())
            unit_of_work.commit(db.session())
            flash(f"If {data['email']} has an account, we emailed it a link to choose a new password.", "success")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot.html", values=values, errors=errors), 400 if errors else 200


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(LOGIN_RATE, methods=["POST"])
def reset_password(token: str) -> Any:
    """Choose a new password through the emailed link (once); every session ends, this one begins."""
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = load_form(PasswordResetIn(), request.form)
        if not errors:
            user = service.reset_password(db.session(), secret=_secret(), token=token, now=utcnow(), **data)
            unit_of_work.commit(db.session())
            session.clear()
            login_user(user)
            flash("Your new password is set, and you are logged out everywhere else.", "success")
            return redirect(url_for("pools.home"))
    return render_template("accounts/reset.html", errors=errors), 400 if errors else 200


@bp.post("/account/password")
@login_required
def change_password() -> Any:
    """Change the password (the current one is asked again); every other session ends."""
    user = require_user()
    data, errors = load_form(PasswordChangeIn(), request.form)
    if not errors:
        try:
            service.change_password(user, **data)
        except ValidationFailed as exc:
            errors = exc.errors
    if errors:
        return _profile_page(user, errors={"pw_" + k: v for k, v in errors.items()})
    unit_of_work.commit(db.session())
    login_user(user)  # this session carries the new session token; the others are over
    flash("Your password is changed. You are logged out on your other devices.", "success")
    return redirect(url_for("accounts.profile"))


def _secret() -> str:
    return str(current_app.config["SECRET_KEY"])


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_RATE, methods=["POST"])
def login() -> Any:
    """Log in with email and password."""
    values = {"email": request.form.get("email", "")}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = load_form(LoginIn(), request.form)
        user = service.authenticate(db.session(), **data) if not errors else None
        if user is not None:
            session.clear()  # a fresh session on login: no fixation
            login_user(user, remember=bool(request.form.get("remember")))
            unit_of_work.commit(db.session())
            return back_to(url_for("pools.home"))
        errors = errors or {"password": ["Wrong email or password."]}
    return render_template("accounts/login.html", values=values, errors=errors), 400 if errors else 200


@bp.post("/logout")
def logout() -> Any:
    """Log out everywhere: this session, the account's other sessions and every remember-me cookie."""
    user = caller()
    if user is not None:
        service.end_all_sessions(user)
        unit_of_work.commit(db.session())
    logout_user()
    session.clear()
    flash("You are logged out on every device.", "success")
    return redirect(url_for("pools.home"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def profile() -> Any:
    """Show and edit the profile; list API tokens; offer the vendor profile."""
    user = require_user()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = load_form(ProfileIn(), request.form)
        if not errors:
            service.update_profile(user, **data)
            unit_of_work.commit(db.session())
            flash("Profile saved.", "success")
            return redirect(url_for("accounts.profile"))
    return _profile_page(user, errors=errors, values=request.form.to_dict() or {"display_name": user.display_name})


def _profile_page(
    user: Any,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, Any] | None = None,
    vendor_errors: dict[str, list[str]] | None = None,
    vendor_values: dict[str, Any] | None = None,
    payout_errors: dict[str, list[str]] | None = None,
    payout_values: dict[str, Any] | None = None,
    new_token: str | None = None,
) -> Any:
    profile = user.vendor_profile
    vendor_values = vendor_values or (
        {"legal_name": profile.legal_name, "categories": profile.categories} if profile else {"categories": []}
    )
    status = 400 if errors or vendor_errors or payout_errors else 200
    return render_template(
        "accounts/profile.html",
        user=user,
        tokens=service.list_tokens(db.session(), user),
        errors=errors or {},
        values=values or {"display_name": user.display_name},
        vendor_errors=vendor_errors or {},
        vendor_values=vendor_values,
        payout_errors=payout_errors or {},
        payout_values=payout_values or {},
        new_token=new_token,
    ), status


@bp.post("/account/tokens")
@login_required
def create_token() -> Any:
    """Create an API token and show it once."""
    user = require_user()
    data, errors = load_form(NewTokenIn(), request.form)
    if not errors:
        try:
            _, plain = service.create_token_confirmed(db.session(), user=user, now=utcnow(), **data)
        except ValidationFailed as exc:
            errors = exc.errors
    if errors:
        return _profile_page(user, errors={"token_" + k: v for k, v in errors.items()})
    unit_of_work.commit(db.session())
    flash("Copy your new token now: it will not be shown again.", "success")
    return _profile_page(user, new_token=plain)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Any:
    """Revoke one of the user's tokens."""
    service.revoke_token(db.session(), user=require_user(), token_id=token_id, now=utcnow())
    unit_of_work.commit(db.session())
    flash("Token revoked.", "success")
    return redirect(url_for("accounts.profile"))


@bp.post("/account/vendor")
@login_required
def become_vendor() -> Any:
    """Create or update the user's vendor profile."""
    user = require_user()
    data, errors = load_form(VendorIn(), request.form)
    if errors:
        values = {"legal_name": request.form.get("legal_name", ""), "categories": request.form.getlist("categories")}
        return _profile_page(user, vendor_errors=errors, vendor_values=values)
    service.become_vendor(db.session(), user=user, now=utcnow(), **data)
    unit_of_work.commit(db.session())
    flash("Your vendor profile is saved. You can now bid on pools in your categories.", "success")
    return redirect(url_for("accounts.profile"))


@bp.post("/account/payout-identity")
@login_required
def payout_identity() -> Any:
    """Give the vendor's payout details; only their fingerprint is kept."""
    user = require_user()
    data, errors = load_form(PayoutIdentityIn(), request.form)
    if not errors:
        try:
            give_payout_identity(db.session(), user, data, utcnow())
        except (ValidationFailed, Conflict) as exc:
            db.session.rollback()
            errors = exc.errors or {"iban": [exc.message]}
    if errors:
        kept = {k: request.form.get(k, "") for k in ("iban", "sort_code", "account_number", "tax_number")}
        return _profile_page(user, payout_errors=errors, payout_values=kept)
    unit_of_work.commit(db.session())
    flash("Your payout details are saved. An operator verifies them; then you can bid on every pool.", "success")
    return redirect(url_for("accounts.profile"))


@bp.get("/admin/vendors")
@login_required
def vendor_queue() -> Any:
    """Operators: vendors waiting for their payout identity to be verified."""
    return render_template("accounts/vendors.html", profiles=vendors.unverified_vendors(db.session(), require_user()))


@bp.post("/admin/vendors/<int:user_id>/verify")
@login_required
def verify_vendor(user_id: int) -> Any:
    """Operators: verify a vendor, once the documents are checked."""
    profile = vendors.verify_vendor(db.session(), vendor_id=user_id, operator=require_user(), now=utcnow())
    unit_of_work.commit(db.session())
    flash(f"{profile.legal_name} is verified.", "success")
    return redirect(url_for("accounts.vendor_queue"))
