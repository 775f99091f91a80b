"""Send the email outbox through a backend: the console (default) or an SMTP server.

The outbox is the notifications whose email is due (app.notifications.models); each is rendered
for its recipient (app.pools.fanout.email_of) as it goes out.

Settings come from the app config mapping passed in (MAIL_BACKEND, MAIL_HOST, MAIL_PORT,
MAIL_USERNAME, MAIL_PASSWORD, MAIL_USE_TLS, MAIL_FROM), never from the environment.
A failed message is retried later with a growing delay, up to MAX_ATTEMPTS times.
"""

from __future__ import annotations

import logging
import smtplib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Protocol, TextIO

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.accounts import emails as account_emails
from app.accounts.models import User
from app.notifications.models import Notification
from app.pools.fanout import email_of
from app.pools.models import Pool
from app.text import one_line

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
SMTP_TIMEOUT_SECONDS = 15
# A dead server or refused login fails every message alike: stop the batch and retry later.
CONNECTION_ERRORS = (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected, smtplib.SMTPAuthenticationError)


class MailBackend(Protocol):
    def send(self, message: MimeMessage) -> None: ...

    def close(self) -> None: ...


class ConsoleBackend:
    """Print each message to a stream (stdout by default): development and demos."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, message: MimeMessage) -> None:
        stream = self.stream or sys.stdout
        headers = "".join(f"{name}: {message[name]}\n" for name in ("From", "To", "Subject", "Date"))
        stream.write(f"---------- email ----------\n{headers}\n{message.get_content()}---------- end ----------\n")
        stream.flush()

    def close(self) -> None:
        return None


class SmtpBackend:
    """Send through one SMTP connection per batch, opened on the first message."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.host, self.port = str(config["MAIL_HOST"]), int(config["MAIL_PORT"])
        self.username, self.password = str(config["MAIL_USERNAME"]), str(config["MAIL_PASSWORD"])
        self.use_tls = bool(config["MAIL_USE_TLS"])
        self.connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        connection = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS)
        try:
            connection.ehlo()
            if self.use_tls:
                connection.starttls()
                connection.ehlo()
            if self.username:
                connection.login(self.username, self.password)
        except BaseException:
            connection.close()
            raise
        return connection

    def send(self, message: MimeMessage) -> None:
        if self.connection is None:
            self.connection = self._connect()
        self.connection.send_message(message)

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (OSError, smtplib.SMTPException):
                self.connection.close()
            self.connection = None


def make_backend(config: Mapping[str, Any]) -> MailBackend:
    """The backend MAIL_BACKEND names: "console" or "smtp"."""
    name = config.get("MAIL_BACKEND", "console")
    if name == "console":
        return ConsoleBackend()
    if name == "smtp":
        return SmtpBackend(config)
    raise ValueError(f"MAIL_BACKEND must be 'console' or 'smtp', not {name!r}")


@dataclass(frozen=True)
class Outgoing:
    """One email as it goes out: a notification rendered for its recipient."""

    notification_id: int
    to_email: str
    subject: str
    body: str
    created_at: datetime


def to_mime(message: Outgoing, sender: str) -> MimeMessage:
    """Build the RFC 5322 message for an outgoing email (the subject on one line, whatever it was given)."""
    mime = MimeMessage()
    mime["From"], mime["To"], mime["Subject"] = sender, message.to_email, one_line(message.subject)
    mime["Date"] = format_datetime(message.created_at)
    mime["Message-ID"] = make_msgid(idstring=f"notification-{message.notification_id}", domain="buyswarm.local")
    mime.set_content(message.body, cte="quoted-printable")  # 7-bit clean for any server
    return mime


@dataclass(frozen=True)
class Claimed:
    """A notification whose email is due, with its recipient (None: nobody to send it to) and pool title."""

    notification: Notification
    user: User | None
    pool_title: str | None

    @property
    def email(self) -> str | None:
        return self.user.email if self.user is not None else None

    def render(self, config: Mapping[str, Any] | None = None) -> Outgoing:
        """The email as it goes out; an account email's link is made now, from the server's secret."""
        note, user = self.notification, self.user
        assert user is not None
        if note.kind in account_emails.KINDS:
            settings = config or {}
            subject, body = account_emails.render(
                note.kind, user, secret=str(settings["SECRET_KEY"]), site_url=str(settings.get("SITE_URL", ""))
            )
        else:
            subject, body = email_of(
                kind=note.kind, name=user.display_name, pool_id=note.pool_id, pool_title=self.pool_title,
                message=note.message,
            )  # fmt: skip
        return Outgoing(note.id, user.email, subject, body, note.created_at)


def pending(session: Session, *, now: datetime, limit: int) -> list[Claimed]:
    """Claim the notifications whose email is due, oldest first.

    Other senders skip the claimed rows (PostgreSQL). A user deactivated since is not written to.
    """
    query = (
        select(Notification, User, Pool.title)
        .join(User, User.id == Notification.user_id)
        .outerjoin(Pool, Pool.id == Notification.pool_id)
        .where(
            Notification.email_due,  # exactly the partial index's predicate, so the index serves it
            or_(Notification.email_next_attempt_at.is_(None), Notification.email_next_attempt_at <= now),
        )
        .order_by(Notification.id)
        .limit(limit)
        .with_for_update(of=Notification, skip_locked=True)
    )
    return [
        Claimed(notification, user if user.is_active_account else None, title)
        for notification, user, title in session.execute(query)
    ]


def retry_delay(attempts: int) -> timedelta:
    """Wait 1, 2, 4 … minutes after each failure, at most 6 hours."""
    return min(timedelta(minutes=2 ** max(0, attempts - 1)), timedelta(hours=6))


def send_pending(
    session: Session, config: Mapping[str, Any], now: datetime, limit: int = 100, backend: MailBackend | None = None
) -> int:
    """Send due notification emails; mark sent ones, record failures for a later retry; return how many were sent.

    Each message is handled on its own: one that cannot be built or is refused is marked failed with
    its error and retried later with back-off, and the rest still go out. Only a dead server or a
    refused login (which would fail every message alike) ends the batch early.
    """
    backend = backend or make_backend(config)
    sender = str(config.get("MAIL_FROM", "Buyswarm <no-reply@buyswarm.local>"))
    sent = 0
    try:
        for claimed in pending(session, now=now, limit=limit):
            notification = claimed.notification
            to_email = claimed.email
            if to_email is None:
                notification.email_due = False
                continue
            notification.email_attempts += 1
            try:
                mime = to_mime(claimed.render(config), sender)
            except Exception as exc:
                _failed(notification, to_email, exc, now)
                continue
            try:
                backend.send(mime)
            except Exception as exc:
                _failed(notification, to_email, exc, now)
                backend.close()  # a half-finished SMTP dialogue cannot be reused
                if _server_is_down(exc):
                    break
            else:
                notification.email_due, notification.emailed_at = False, now
                notification.email_error, notification.email_next_attempt_at = None, None
                sent += 1
    finally:
        backend.close()
        session.flush()
    return sent


def _server_is_down(exc: Exception) -> bool:
    """A failure every later message would share: a dead server, a refused login, a network error."""
    return isinstance(exc, CONNECTION_ERRORS) or (
        isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)
    )


def _failed(notification: Notification, to_email: str, exc: BaseException, now: datetime) -> None:
    attempts = notification.email_attempts
    log.warning("email of notification %s to %s failed (attempt %s): %s", notification.id, to_email, attempts, exc)
    notification.email_error = f"{type(exc).__name__}: {exc}"[:500]
    notification.email_next_attempt_at = now + retry_delay(attempts)
    if attempts >= MAX_ATTEMPTS:
        notification.email_due = False  # given up: it stays in the inbox, with the last error
