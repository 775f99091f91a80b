"""One unit of work: commit what a request (or a job step) decided, then run what follows a commit.

Follow-ups (telling members of a new best price, saving a card with the payment provider) run
only once the write they follow is committed, each in a transaction of its own. A follow-up that
fails is rolled back and logged, never raised: the write it follows stands, so a request whose
bid or commitment was saved never answers 500 because of what came after. Follow-ups are written
to be safe to run twice and at once (they lock what they change or are idempotent), so a failed one
is simply retried by its next trigger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


def commit(session: Session, after: Iterable[Callable[[], object]] = ()) -> None:
    """Commit the session's transaction, then run each follow-up and commit it on its own."""
    session.commit()
    for follow_up in after:
        try:
            follow_up()
            session.commit()
        except Exception:
            session.rollback()
            log.exception("a follow-up after a commit failed; the committed work stands")
