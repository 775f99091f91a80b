"""Shared request plumbing: turning errors into responses, reading forms through schemas."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import flask_smorest
from flask import (
    Flask,
    Request,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from marshmallow import Schema, ValidationError, fields
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError
from werkzeug.routing import IntegerConverter, UnicodeConverter
from werkzeug.wrappers import Response as BaseResponse

from app.errors import DomainError
from app.text import control_characters, spreadsheet_safe
from app.web.extensions import db
from app.web.schemas import MAX_ID, flatten_errors

log = logging.getLogger(__name__)
CSRF_MESSAGE = "Your form expired or came from another site. Please check it and submit again."
RESTORED_FORM = "restored_form"  # session key: a refused form's values, shown again on its page

HTTP_CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
}  # fmt: skip


class IdConverter(IntegerConverter):
    """`<int:…>` in routes: a positive id a column can hold; anything larger is a 404, not an overflow."""

    def __init__(self, url_map: Any, fixed_digits: int = 0, min: int | None = None, max: int | None = None) -> None:
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max)


class SegmentConverter(UnicodeConverter):
    """`<name>` in routes: one path segment with no control characters (PostgreSQL refuses NUL in text)."""

    def __init__(
        self, url_map: Any, minlength: int = 1, maxlength: int | None = None, length: int | None = None
    ) -> None:
        super().__init__(url_map, minlength=minlength, maxlength=maxlength, length=length)
        self.regex = self.regex.replace("[^/]", "[^/\\x00-\\x1f\\x7f]", 1)


class JsonParser(FlaskParser):
    """webargs' parser, but JSON nested too deeply for the parser is invalid JSON (400), not a crash."""

    def _raw_load_json(self, req: Request) -> Any:
        try:
            return super()._raw_load_json(req)
        except RecursionError as exc:
            raise json.JSONDecodeError("The JSON is nested too deeply.", "[…]", 0) from exc  # a doc: "" means no body


class ApiBlueprint(flask_smorest.Blueprint):
    """The API's blueprints: flask-smorest's, reading bodies with JsonParser."""

    ARGUMENTS_PARSER = JsonParser()


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def api_error(status: int, code: str, message: str, errors: dict[str, list[str]] | None = None) -> Response:
    """The one JSON error shape: {code, message, errors}."""
    response = jsonify({"code": code, "message": message, "errors": errors or {}})
    response.status_code = status
    return response


def _handle_domain_error(error: DomainError) -> Any:
    db.session.rollback()
    if is_api_request():
        return api_error(error.status, error.code, error.message, error.errors)
    if error.status == 401:
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    if error.status == 409 and request.method == "POST":
        flash(error.message, "error")
        return redirect(request.referrer or "/")
    return render_template("error.html", status=error.status, message=error.message), error.status


def _handle_http_exception(error: HTTPException) -> Any:
    db.session.rollback()
    if isinstance(error, SecurityError):  # a Host outside TRUSTED_HOSTS: no URL of this site can be built
        return Response("This site is not served under that host name.\n", 400, mimetype="text/plain")
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if is_api_request():
        errors = flatten_errors(data.get("messages") or data.get("errors") or {})
        message = "Some fields are invalid." if status == 422 else (error.description or error.name)
        code = HTTP_CODES.get(status, "error")
        if status == 400 and "Invalid JSON body." in str(errors):
            code, message, errors = "malformed_json", "The request body is not valid JSON.", {}
        return api_error(status, code, message, errors)
    return render_template("error.html", status=status, message=error.description), status


def _handle_csrf_error(error: CSRFError) -> Any:
    db.session.rollback()
    if is_api_request():
        return api_error(400, "csrf_failed", error.description)
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        # A post that came without our cookie (a cross-site form, say): answering it with a new
        # session cookie would replace the visitor's own and log them out. Leave the session alone.
        return render_template("error.html", status=400, message=CSRF_MESSAGE), 400
    # Keep what the user typed (never passwords) so the form they return to shows it again.
    kept = {k: v for k, v in request.form.items() if k != "csrf_token" and "password" not in k}
    if kept:
        session[RESTORED_FORM] = {"path": _same_site_path(request.referrer) or request.path, "values": kept}
    flash(CSRF_MESSAGE, "error")
    return redirect(request.referrer or "/")


def _same_site_path(url: str | None) -> str | None:
    parts = urlsplit(url or "")
    return parts.path if parts.netloc in ("", request.host) else None


def restored_values(default: dict[str, Any]) -> dict[str, Any]:
    """The values a form submission refused for CSRF left behind for this page, or `default`."""
    kept = session.get(RESTORED_FORM)
    if kept and kept.get("path") == request.path:
        session.pop(RESTORED_FORM)
        return dict(kept["values"])
    return default


def _handle_unexpected(error: Exception) -> Any:
    log.exception("unhandled error on %s %s", request.method, request.path)
    db.session.rollback()
    if is_api_request():
        return api_error(500, "internal_error", "Something went wrong on our side; nothing was saved.")
    message = "Something went wrong on our side; nothing was saved."
    return render_template("error.html", status=500, message=message), 500


def register_error_handlers(app: Flask) -> None:
    """Install the handlers for domain errors, HTTP errors, CSRF failures and crashes."""
    app.register_error_handler(DomainError, _handle_domain_error)
    app.register_error_handler(CSRFError, _handle_csrf_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(InternalServerError, _handle_unexpected)
    app.register_error_handler(Exception, _handle_unexpected)


def flash_refusal(error: DomainError) -> None:
    """Flash why a service refused a form: every field's message, or the error's own."""
    flash(" ".join([m for messages in error.errors.values() for m in messages] or [error.message]), "error")


def load_form(schema: Schema, form: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate submitted form fields with a schema; return (data, per-field errors).

    Empty inputs count as not given, so optional fields left blank take their defaults.
    """
    raw: dict[str, Any] = {}
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        values = [v for v in form.getlist(name) if v != ""]
        if values:
            raw[name] = values if _is_list(field) else values[0]
    return validate(schema, raw)


def validate(schema: Schema, raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Load `raw` with the schema; return (data, {}) or ({}, per-field errors)."""
    try:
        return schema.load(raw), {}
    except ValidationError as exc:
        return {}, flatten_errors(exc.messages)


def confirmation(
    *, title: str, consequence: str | list[str], button: str, back: str, danger: bool = False
) -> str | None:
    """The step before a form that moves money or ends a pool: None once the form says confirmed=yes,
    else a page that states the consequence and posts the same fields again (no JavaScript needed)."""
    if request.form.get("confirmed") == "yes":
        return None
    kept = [(k, v) for k in request.form for v in request.form.getlist(k) if k not in ("csrf_token", "confirmed")]
    lines = [consequence] if isinstance(consequence, str) else consequence
    return render_template(
        "confirm.html", title=title, consequence=lines, button=button, back=back, fields=kept,
        action=request.path, danger=danger,
    )  # fmt: skip


def _is_list(field: Any) -> bool:
    return isinstance(field, fields.List)


def back_to(default: str) -> BaseResponse:
    """Redirect to a same-site `next` parameter, or to `default`."""
    target = request.args.get("next") or request.form.get("next") or ""
    return redirect(target if is_local_path(target) else default)


def is_local_path(target: str) -> bool:
    """Whether `target` is a path on this site, as a browser would read it.

    Browsers drop tabs and line breaks from URLs and read a backslash as a slash, so a slash, a tab
    and a slash, or a slash and a backslash, lead to another host like "//evil" does; and a line
    break in a Location header is refused outright.
    """
    if not target.startswith("/") or "\\" in target or control_characters(target, multiline=False):
        return False
    parts = urlsplit(target)
    return not (parts.scheme or parts.netloc or target.startswith("//") or parts.path.startswith("//"))


def csv_download(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    """A CSV attachment; every cell goes through spreadsheet_safe, whoever typed it."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([spreadsheet_safe(str(cell)) for cell in row])
    return Response(
        out.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f"attachment; filename={filename}"}
    )
