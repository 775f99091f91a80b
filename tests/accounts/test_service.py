"""Account use cases without HTTP: finding the user behind an API token."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.accounts.models import ApiToken
from tests import factories


def _token(session, user, now):
    _, plain = accounts.create_token(session, user=user, name="tests", now=now)
    session.commit()
    return plain


def test_a_token_finds_its_user_with_the_vendor_profile_loaded(engine, session, now, count_queries):
    vendor = factories.vendor(session, now=now)
    plain = _token(session, vendor, now)
    with Session(engine) as fresh:
        count_queries.statements.clear()
        found = accounts.user_for_token(fresh, plain, now=now)
        assert found is not None and found.id == vendor.id
        assert found.vendor_profile is not None and found.vendor_profile.legal_name == vendor.vendor_profile.legal_name
    assert count_queries.count == 2  # the lookup, and the first use written once


def test_a_token_of_a_member_who_is_no_vendor_knows_it_without_another_query(engine, session, now, count_queries):
    member = factories.user(session, now=now)
    plain = _token(session, member, now)
    with Session(engine) as fresh:
        found = accounts.user_for_token(fresh, plain, now=now)
        count_queries.statements.clear()
        assert found is not None and found.id == member.id
        assert found.vendor_profile is None and not found.is_vendor
    assert count_queries.count == 0


def test_an_unknown_token_finds_nobody(session, now):
    factories.user(session, now=now)
    assert accounts.user_for_token(session, "bsw_not-a-token", now=now) is None


def test_a_revoked_token_finds_nobody(session, now):
    user = factories.user(session, now=now)
    plain = _token(session, user, now)
    token = session.scalar(select(ApiToken))
    accounts.revoke_token(session, user=user, token_id=token.id, now=now)
    session.commit()
    assert accounts.user_for_token(session, plain, now=now) is None


def test_a_deactivated_users_token_finds_nobody(session, now):
    user = factories.user(session, now=now, is_active_account=False)
    plain = _token(session, user, now)
    assert accounts.user_for_token(session, plain, now=now) is None


def test_last_use_is_written_at_most_every_few_minutes(engine, session, now, count_queries):
    user = factories.user(session, now=now)
    plain = _token(session, user, now)
    uses = [now, now + timedelta(minutes=1), now + accounts.LAST_USED_PRECISION + timedelta(seconds=1)]
    written = []
    for moment in uses:
        with Session(engine) as request_session:
            count_queries.statements.clear()
            assert accounts.user_for_token(request_session, plain, now=moment) is not None
            request_session.commit()
            written.append(any(s.lstrip().upper().startswith("UPDATE") for s in count_queries.statements))
    assert written == [True, False, True]
    session.expire_all()
    assert session.scalar(select(ApiToken.last_used_at)) == uses[2]
