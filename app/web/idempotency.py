"""`Idempotency-Key` on API writes: the same key and request give the same answer for 24 hours.

A client that loses the answer to a POST, PUT, PATCH or DELETE (a dropped connection, a failed host)
sends it again with the same key and gets the first answer, with `Idempotent-Replayed: true`,
instead of doing the write twice. How it holds:
- the key's row is written in the request's own transaction before the handler runs, so it
  commits with the write or rolls back with it (a refused request leaves no key: a retry runs again);
- the answer is stored just after the handler, for the replays;
- the unique (user, key) index makes a second request with the key wait for the first and then
  find it: it replays the answer, or is told 409 while the first is still being answered;
- the same key with another method, path or body is 422; a malformed key is 400.
Keys are the caller's (scoped by account): an anonymous request's key is not kept.
"""

from __future__ import annotations

import hashlib
import re

from flask import Flask, Response, g, request
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app import unit_of_work
from app.accounts.models import IdempotencyKey
from app.accounts.service import IDEMPOTENCY_KEEP_FOR as KEEP_FOR
from app.clock import utcnow
from app.web.auth import caller
from app.web.extensions import db
from app.web.http import api_error

HEADER = "Idempotency-Key"
KEY_RE = re.compile(r"[A-Za-z0-9._:\-]{1,255}")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_STORED_BODY = 65_536  # bytes of an answer kept for replays; write answers are far smaller


def init_idempotency(app: Flask) -> None:
    """Honour the header on API writes (registered after the API's authentication)."""
    app.before_request(_before)
    app.after_request(_after)


def _before() -> Response | None:
    key = request.headers.get(HEADER)
    if key is None or request.method not in WRITES or not request.path.startswith("/api/"):
        return None
    if not KEY_RE.fullmatch(key):
        return api_error(400, "bad_idempotency_key", f"{HEADER} must be 1 to 255 letters, digits or ._:- characters.")
    user = caller()
    if user is None:
        return None  # nothing to scope it by: the request runs as any other
    body = hashlib.sha256(request.get_data(cache=True)).hexdigest()
    session = db.session()
    now = utcnow()
    found = session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user.id, IdempotencyKey.key == key))
    if found is not None and found.created_at <= now - KEEP_FOR:  # expired: the key may be used again
        session.delete(found)
        unit_of_work.commit(session)
        found = None
    if found is None:
        row = IdempotencyKey(user_id=user.id, key=key, method=request.method, path=request.path[:500],
                             body_sha256=body, created_at=now)  # fmt: skip
        session.add(row)
        try:
            session.flush()  # in the request's transaction: it commits with the write, or not at all
        except IntegrityError:  # the same key in flight in another request: it waited for that one
            session.rollback()
            found = session.scalar(
                select(IdempotencyKey).where(IdempotencyKey.user_id == user.id, IdempotencyKey.key == key)
            )
            if found is None:  # that request was refused and left no key: this one runs
                return _before()
        else:
            g.idempotency_key_id = row.id
            return None
    return _replay(found, body)


def _replay(found: IdempotencyKey, body: str) -> Response:
    if (found.method, found.path, found.body_sha256) != (request.method, request.path[:500], body):
        return api_error(422, "idempotency_key_reused", f"This {HEADER} was used with another request.",
                         {HEADER: ["Use a new key for a new request."]})  # fmt: skip
    if found.status_code is None or found.response_body is None:
        return api_error(409, "idempotency_key_in_progress",
                         f"A request with this {HEADER} is being answered; send it again in a moment.")  # fmt: skip
    replayed = Response(found.response_body, status=found.status_code, mimetype="application/json")
    replayed.headers["Idempotent-Replayed"] = "true"
    return replayed


def _after(response: Response) -> Response:
    row_id = g.pop("idempotency_key_id", None)
    if row_id is None:
        return response
    body = response.get_data() if not response.is_streamed else b""
    if response.status_code >= 500 or len(body) > MAX_STORED_BODY:
        return response  # not kept: a retry asks again (the key stays, so it is told to wait, never run twice)
    session = db.session()
    try:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == row_id)
            .values(status_code=response.status_code, response_body=body.decode("utf-8", "replace"))
        )
        unit_of_work.commit(session)  # a key whose write rolled back is gone: this updates nothing
    except Exception:
        session.rollback()
    return response
