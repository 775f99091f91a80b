"""Web pages for accounts: sign up, log in and out, profile, API tokens, becoming a vendor."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import login_required, login_user, logout_user

from app.accounts import service
from app.accounts.schemas import LoginIn, NewTokenIn, ProfileIn, RegisterIn, VendorIn
from app.auth import caller, require_user
from app.clock import utcnow
from app.errors import DomainError, ValidationFailed
from app.extensions import db, limiter
from app.http import back_to, load_form, restored_values

bp = Blueprint("accounts", __name__, template_folder="../templates")


def _login_rate() -> str:
    return str(current_app.config["RATELIMIT_LOGIN"])


@bp.route("/register", methods=["GET", "POST"])
def register() -> Any:
    """Create an account and log in."""
    values: dict[str, Any] = request.form.to_dict() if request.method == "POST" else restored_values({})
    values.pop("password", None)  # never echo a password back into the page
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = load_form(RegisterIn(), request.form)
        if not errors:
            try:
                user = service.register(db.session(), now=utcnow(), **data)
            except DomainError as exc:
                errors = exc.errors
            else:
                db.session.commit()
                login_user(user)
                flash(f"Welcome to Buyswarm, {user.display_name}!", "success")
                return back_to(url_for("pools.home"))
    return render_template("accounts/register.html", values=values, errors=errors), 400 if errors else 200


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate, methods=["POST"])
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
            db.session.commit()
            return back_to(url_for("pools.home"))
        errors = errors or {"password": ["Wrong email or password."]}
    return render_template("accounts/login.html", values=values, errors=errors), 400 if errors else 200


@bp.post("/logout")
def logout() -> Any:
    """Log out everywhere: this session, the account's other sessions and every remember-me cookie."""
    user = caller()
    if user is not None:
        service.end_all_sessions(user)
        db.session.commit()
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
            db.session.commit()
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
    new_token: str | None = None,
) -> Any:
    profile = user.vendor_profile
    vendor_values = vendor_values or (
        {"legal_name": profile.legal_name, "categories": profile.categories} if profile else {"categories": []}
    )
    status = 400 if errors or vendor_errors else 200
    return render_template(
        "accounts/profile.html",
        user=user,
        tokens=service.list_tokens(db.session(), user),
        errors=errors or {},
        values=values or {"display_name": user.display_name},
        vendor_errors=vendor_errors or {},
        vendor_values=vendor_values,
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
    db.session.commit()
    flash("Copy your new token now: it will not be shown again.", "success")
    return _profile_page(user, new_token=plain)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Any:
    """Revoke one of the user's tokens."""
    service.revoke_token(db.session(), user=require_user(), token_id=token_id, now=utcnow())
    db.session.commit()
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
    db.session.commit()
    flash("Your vendor profile is saved. You can now bid on pools in your categories.", "success")
    return redirect(url_for("accounts.profile"))
