"""Jinja filters and globals: money, prices, times, categories."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import Flask, request, url_for

from app.clock import utcnow
from app.money import format_minor, format_price
from app.pools.rules import CATEGORIES


def time_left(closes_at: datetime, now: datetime | None = None) -> str:
    """Say how long until `closes_at` in words people use: '2 days 3 hours', 'closed'."""
    left = closes_at - (now or utcnow())
    if left <= timedelta(0):
        return "closed"
    days, hours, minutes = left.days, left.seconds // 3600, left.seconds % 3600 // 60
    if days:
        return f"{days} day{'s' * (days != 1)} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{max(minutes, 1)} min"


def utc_text(moment: datetime | None) -> str:
    """Format a UTC moment; pages add a <time> tag so a script can show local time."""
    return "" if moment is None else moment.strftime("%d %b %Y, %H:%M UTC")


def page_url(page: int) -> str:
    """The current URL with another page number, keeping the filters."""
    args: dict[str, Any] = {**(request.view_args or {}), **request.args.to_dict(), "page": page}
    return url_for(request.endpoint or "pools.index", **args)


def unread_notifications() -> int:
    """The signed-in user's unread notifications, for the header (0 for visitors)."""
    from flask_login import current_user

    from app.social.service import unread_count
    from app.web.extensions import db

    return unread_count(db.session(), current_user) if current_user.is_authenticated else 0


def init_templating(app: Flask) -> None:
    """Register the filters and globals every template may use."""
    app.jinja_env.filters.update(
        money=lambda amount, currency: format_minor(int(amount), currency),
        price=lambda value, currency: format_price(Decimal(value), currency),
        time_left=time_left,
        utc=utc_text,
        category_label=lambda slug: CATEGORIES.get(slug, slug),
    )

    # Globals, not a context processor: macros imported without context see them too.
    app.jinja_env.globals.update(CATEGORIES=CATEGORIES, page_url=page_url, unread_notifications=unread_notifications)
