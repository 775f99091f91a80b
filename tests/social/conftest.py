"""Social-layer fixtures: a local SMTP sink, and factories for the people a pool's discussion involves."""

from __future__ import annotations

import base64
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.clubs.models import Club
from app.pools import commitments
from app.pools.models import Pool
from app.social import service
from tests import factories

ROLES = ("organiser", "member", "withdrawn", "vendor_with_bid", "vendor_without_bid", "outsider")


def actor(session: Session, *, pool: Pool, role: str, now: datetime) -> User:
    """A user standing in `role` towards the pool (see ROLES)."""
    if role == "organiser":
        return pool.organiser
    if role in {"member", "withdrawn"}:
        made = factories.commitment(session, pool=pool, now=now)
        if role == "withdrawn":
            commitments.withdraw(session, pool_id=pool.id, member=made.member, now=now)
            session.commit()
        return made.member
    if role == "vendor_with_bid":
        return factories.bid(session, pool=pool, now=now).vendor
    if role == "vendor_without_bid":
        return factories.vendor(session, now=now)
    return factories.user(session, now=now)


def post(session: Session, *, pool: Pool, now: datetime, author: User | None = None, body: str = "Hello all") -> int:
    """A post in the pool's discussion (by a new member unless `author` is given); returns its id."""
    author = author or factories.commitment(session, pool=pool, now=now).member
    made = service.add_post(session, pool_id=pool.id, author=author, body=body, now=now)
    session.commit()
    return made.id


def club(session: Session, *, now: datetime, owner: User | None = None, slug: str = "elm-street") -> Club:
    """A club whose owner is its first admin."""
    owner = owner or factories.user(session, now=now)
    made = service.create_club(session, owner=owner, name="Elm Street buyers", slug=slug, description="", now=now)
    session.commit()
    return made


# --- a tiny SMTP server: enough of RFC 5321 for smtplib (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) ---


@dataclass
class SmtpSink:
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[dict[str, object]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered with 550

    def config(self, **overrides: object) -> dict[str, object]:
        settings: dict[str, object] = {
            "MAIL_BACKEND": "smtp", "MAIL_HOST": self.host, "MAIL_PORT": self.port, "MAIL_USERNAME": "",
            "MAIL_PASSWORD": "", "MAIL_USE_TLS": False, "MAIL_FROM": "Buyswarm <no-reply@buyswarm.local>",
        }  # fmt: skip
        return settings | overrides


class _SmtpHandler(socketserver.StreamRequestHandler):
    def reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self) -> None:
        sink: SmtpSink = self.server.sink  # type: ignore[attr-defined]
        envelope: dict[str, object] = {"from": None, "to": []}
        self.reply("220 sink ESMTP ready")
        while line := self.rfile.readline():
            command = line.decode().rstrip("\r\n")
            upper = command.upper()
            if upper.startswith("EHLO"):
                self.reply("250-sink\r\n250-AUTH PLAIN\r\n250 8BITMIME")
            elif upper.startswith("HELO") or upper.startswith("NOOP"):
                self.reply("250 ok")
            elif upper.startswith("AUTH PLAIN "):
                _, user, password = base64.b64decode(command.split()[2]).decode().split("\0")
                sink.logins.append((user, password))
                self.reply("235 authenticated")
            elif upper.startswith("MAIL FROM:"):
                envelope = {"from": command[10:].strip(" <>").split(">")[0], "to": []}
                self.reply("250 ok")
            elif upper.startswith("RCPT TO:"):
                address = command[8:].strip().strip("<>")
                if address in sink.refuse:
                    self.reply("550 no such mailbox")
                else:
                    envelope["to"].append(address)  # type: ignore[union-attr]
                    self.reply("250 ok")
            elif upper == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                sink.messages.append({**envelope, "data": self.read_data()})
                self.reply("250 queued")
            elif upper == "RSET":
                envelope = {"from": None, "to": []}
                self.reply("250 ok")
            elif upper == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")

    def read_data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)  # undo dot-stuffing
        return b"".join(lines)


class _SmtpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A local SMTP server that keeps what it receives."""
    server = _SmtpServer(("127.0.0.1", 0), _SmtpHandler)
    sink = SmtpSink(port=server.server_address[1])
    server.sink = sink  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sink
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
