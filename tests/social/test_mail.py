"""The email outbox (notifications whose email is due): the console backend prints, the SMTP backend
really sends, failures are retried."""

from __future__ import annotations

import email
import email.policy
import socket
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.notifications.models import Notification
from app.notifications.service import notify
from app.pools.fanout import notify_user
from app.social import jobs, mail
from tests import factories


def queued(session, now, *addresses, message="It tipped — well done."):
    """Tell a user of each address that “Heat pumps” tipped; return the notifications' ids, in order."""
    pool = factories.open_pool(session, now=now, title="Heat pumps")
    ids = []
    for address in addresses:
        user = factories.user(session, now=now, email=address, display_name=address.split("@")[0].title())
        assert notify_user(session, user.id, pool, "pool_tipped", message, now)
        ids.append(session.scalar(select(Notification.id).where(Notification.user_id == user.id)))
    session.commit()
    return ids


def parsed(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_the_console_backend_prints_each_message_and_marks_it_sent(session, now, capsys):
    (message_id,) = queued(session, now, "amira@example.com")
    assert mail.send_pending(session, {"MAIL_BACKEND": "console"}, now, 10) == 1
    out = capsys.readouterr().out
    assert "To: amira@example.com" in out and "Subject: “Heat pumps” has tipped" in out
    assert "Hello Amira,\n\nIt tipped — well done.\n\nPool: Heat pumps" in out
    stored = session.get(Notification, message_id)
    assert stored.emailed_at == now and stored.email_attempts == 1 and stored.email_error is None
    assert not stored.email_due


def test_sent_messages_are_not_sent_again(session, now, capsys):
    queued(session, now, "amira@example.com")
    mail.send_pending(session, {"MAIL_BACKEND": "console"}, now, 10)
    assert mail.send_pending(session, {"MAIL_BACKEND": "console"}, now, 10) == 0


def test_the_smtp_backend_delivers_to_a_real_smtp_server(session, now, smtp_sink):
    first_id, _ = queued(session, now, "amira@example.com", "ben@example.com")
    assert mail.send_pending(session, smtp_sink.config(), now, 10) == 2
    assert [m["to"] for m in smtp_sink.messages] == [["amira@example.com"], ["ben@example.com"]]
    first = parsed(smtp_sink.messages[0]["data"])
    assert first["Subject"] == "“Heat pumps” has tipped"
    assert first["From"] == "Buyswarm <no-reply@buyswarm.local>"
    assert first.get_content().replace("\r\n", "\n").startswith("Hello Amira,\n\nIt tipped — well done.\n")
    assert f".notification-{first_id}@buyswarm.local>" in first["Message-ID"]
    assert max(smtp_sink.messages[0]["data"]) < 128  # 7-bit clean
    assert smtp_sink.messages[0]["from"] == "no-reply@buyswarm.local"


def test_the_smtp_backend_logs_in_when_given_credentials(session, now, smtp_sink):
    queued(session, now, "amira@example.com")
    mail.send_pending(session, smtp_sink.config(MAIL_USERNAME="mailer", MAIL_PASSWORD="s3cret"), now, 10)
    assert smtp_sink.logins == [("mailer", "s3cret")] and len(smtp_sink.messages) == 1


def test_a_refused_recipient_is_recorded_and_the_rest_still_go(session, now, smtp_sink):
    smtp_sink.refuse.add("gone@example.com")
    bad, good = queued(session, now, "gone@example.com", "ben@example.com")
    assert mail.send_pending(session, smtp_sink.config(), now, 10) == 1
    refused = session.get(Notification, bad)
    assert refused.emailed_at is None and refused.email_attempts == 1
    assert "SMTPRecipientsRefused" in refused.email_error and refused.email_due
    assert refused.email_next_attempt_at == now + timedelta(minutes=1)
    assert session.get(Notification, good).emailed_at == now


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_server_stops_the_batch_and_the_message_is_retried_later(session, now, smtp_sink):
    first, second = queued(session, now, "amira@example.com", "ben@example.com")
    assert mail.send_pending(session, smtp_sink.config(MAIL_PORT=_closed_port()), now, 10) == 0
    failed = session.get(Notification, first)
    assert failed.email_attempts == 1 and failed.email_error and failed.emailed_at is None
    assert session.get(Notification, second).email_attempts == 0  # not tried: the server was down
    assert mail.send_pending(session, smtp_sink.config(), now, 10) == 1  # the failed one waits its turn
    assert mail.send_pending(session, smtp_sink.config(), now + timedelta(minutes=1), 10) == 1
    assert session.get(Notification, first).emailed_at == now + timedelta(minutes=1)
    assert session.get(Notification, first).email_error is None


def test_a_message_is_given_up_after_the_last_attempt(session, now, smtp_sink):
    smtp_sink.refuse.add("gone@example.com")
    (message_id,) = queued(session, now, "gone@example.com")
    session.get(Notification, message_id).email_attempts = mail.MAX_ATTEMPTS - 1
    session.commit()
    assert mail.send_pending(session, smtp_sink.config(), now, 10) == 0
    given_up = session.get(Notification, message_id)
    assert given_up.email_attempts == mail.MAX_ATTEMPTS and not given_up.email_due and given_up.email_error
    smtp_sink.refuse.clear()
    assert mail.send_pending(session, smtp_sink.config(), now + timedelta(days=1), 10) == 0
    assert smtp_sink.messages == []


def test_a_user_deactivated_before_the_email_went_out_is_not_written_to(session, now, capsys):
    (message_id,) = queued(session, now, "amira@example.com")
    session.get(User, session.get(Notification, message_id).user_id).is_active_account = False
    session.commit()
    assert mail.send_pending(session, {"MAIL_BACKEND": "console"}, now, 10) == 0
    assert capsys.readouterr().out == "" and not session.get(Notification, message_id).email_due


def test_retries_wait_longer_each_time_up_to_six_hours():
    delays = [mail.retry_delay(n) for n in (1, 2, 3, 20)]
    assert delays == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(hours=6)]


def test_an_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="MAIL_BACKEND"):
        mail.make_backend({"MAIL_BACKEND": "pigeon"})


def test_the_outbox_job_sends_with_the_apps_settings_and_commits(app, session, now, smtp_sink):
    (message_id,) = queued(session, now, "amira@example.com")
    config = {**app.config, "MAIL_BACKEND": "smtp", "MAIL_HOST": smtp_sink.host, "MAIL_PORT": smtp_sink.port}
    assert jobs.send_outbox(session, config, now=now) == 1
    session.rollback()  # nothing left uncommitted: the sent mark survives
    assert session.get(Notification, message_id).emailed_at == now


def test_the_default_settings_print_to_the_console(app):
    assert app.config["MAIL_BACKEND"] == "console" and app.config["MAIL_PORT"] == 25
    assert isinstance(mail.make_backend(app.config), mail.ConsoleBackend)


def test_a_notification_about_no_pool_is_emailed_without_a_pool_line(session, now, capsys):
    user = factories.user(session, now=now, email="amira@example.com", display_name="Amira")
    assert notify(session, user_id=user.id, pool_id=None, kind="welcome", message="Welcome aboard.", now=now,
                  email=True)  # fmt: skip
    session.commit()
    assert mail.send_pending(session, {"MAIL_BACKEND": "console"}, now, 10) == 1
    out = capsys.readouterr().out
    assert "Subject: News from Buyswarm" in out and "Welcome aboard." in out and "Pool:" not in out


def test_a_title_with_a_line_break_goes_out_on_one_line_and_holds_back_nothing(session, now, smtp_sink):
    first, second = queued(session, now, "amira@example.com", "ben@example.com")
    pool = factories.open_pool(session, now=now, title="Broken\r\ntitle")  # written before titles were checked
    third = factories.user(session, now=now, email="cleo@example.com")
    assert notify_user(session, third.id, pool, "pool_tipped", "It tipped.", now)
    session.commit()
    assert mail.send_pending(session, smtp_sink.config(), now, 10) == 3
    subjects = [parsed(m["data"])["Subject"] for m in smtp_sink.messages]
    assert subjects == ["“Heat pumps” has tipped", "“Heat pumps” has tipped", "“Broken title” has tipped"]
    assert session.get(Notification, first).emailed_at == session.get(Notification, second).emailed_at == now


def test_a_message_that_cannot_be_built_fails_alone_and_is_retried_with_back_off(session, now, smtp_sink):
    bad_user = factories.user(session, now=now, email="eve@example.com")
    bad_user.email = "eve@example.com\r\nBcc: everyone@example.com"  # a header injection from an old row
    pool = factories.open_pool(session, now=now, title="Heat pumps")
    assert notify_user(session, bad_user.id, pool, "pool_tipped", "It tipped.", now)
    session.commit()
    (after,) = queued(session, now, "ben@example.com")
    assert mail.send_pending(session, smtp_sink.config(), now, 10) == 1
    failed = session.scalar(select(Notification).where(Notification.user_id == bad_user.id))
    assert failed.email_due and failed.email_attempts == 1 and "ValueError" in failed.email_error
    assert failed.email_next_attempt_at == now + timedelta(minutes=1)
    assert session.get(Notification, after).emailed_at == now
    assert [m["to"] for m in smtp_sink.messages] == [["ben@example.com"]]
