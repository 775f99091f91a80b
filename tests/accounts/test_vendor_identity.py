"""Vendor identity: payout fingerprints link accounts into one reputation, verification gates bidding."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.accounts.identity import IdentityError, parse_identity
from app.accounts.models import VendorProfile
from app.audit import AuditEvent
from app.reputation import service
from tests import factories
from tests.reputation.test_feedback import rate
from tests.web_helpers import log_in, submit

BANK = {"iban": "GB29 NWBK 6016 1331 9268 19", "tax_number": "AB 12 34 56 C"}


@pytest.mark.parametrize(
    ("details", "field"),
    [
        ({"iban": "GB29 NWBK 6016 1331 9268 18", "tax_number": "AB123456C"}, "iban"),  # a typo: check digits
        ({"iban": "GB29 NWBK 6016 1331 9268", "tax_number": "AB123456C"}, "iban"),  # too short for GB
        ({"iban": "XX29NWBK60161331926819", "tax_number": "AB123456C"}, "iban"),  # a country we do not pay
        ({"sort_code": "60-16", "account_number": "31926819", "tax_number": "AB123456C"}, "sort_code"),
        ({"sort_code": "60-16-13", "account_number": "3192681", "tax_number": "AB123456C"}, "account_number"),
        ({"iban": "GB29NWBK60161331926819", "tax_number": "12"}, "tax_number"),
        ({"tax_number": "AB123456C"}, "iban"),
    ],
)
def test_payout_details_that_do_not_parse_name_their_field(details, field):
    with pytest.raises(IdentityError) as refused:
        parse_identity(**details)
    assert refused.value.field == field


def test_the_same_bank_account_however_written_is_one_fingerprint():
    a = parse_identity(iban="gb29 nwbk 6016 1331 9268 19", tax_number="ab123456c")
    b = parse_identity(iban="GB29NWBK60161331926819", tax_number="XY999999Z")
    assert a.fingerprint(b"key") == b.fingerprint(b"key") != a.fingerprint(b"other key")
    assert "6016" not in a.fingerprint(b"key")


def test_a_re_registration_with_the_same_bank_account_shares_the_old_accounts_reputation(app, client, session, now):
    pool, old, (alice, bob) = factories.settled_pool(session, now=now, member_age_days=400)
    rate(session, pool, alice, old, now)
    rate(session, pool, bob, old, now)
    later = now + timedelta(days=61)
    service.reveal_expired(session, now=later)
    # The old account was verified with this bank account (the factory gave it a fingerprint of its own).
    old.vendor_profile.payout_fingerprint = parse_identity(**BANK).fingerprint(app.config["IDENTITY_KEY"].encode())
    session.commit()

    new = factories.vendor(session, now=later, verified=False)
    answer = client.put(
        "/api/v1/vendors/me/payout-identity", json=BANK, headers=factories.token(session, new, now=later)
    )
    assert answer.status_code == 200 and answer.get_json()["linked_to"] == old.id
    reputation = client.get(f"/api/v1/users/{new.id}/reputation").get_json()
    assert reputation == client.get(f"/api/v1/users/{old.id}/reputation").get_json() | {"user_id": new.id}
    assert reputation["feedback_score"] == 2 and reputation["trust"] > 0.1  # the old account's history
    page = client.get(f"/users/{new.id}").get_data(as_text=True)
    assert "Also traded as" in page and old.display_name in page
    assert (
        session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "vendor.payout_identity")
        )
        == 2
    )


def test_a_closed_identity_stays_closed(client, session, now):
    old = factories.vendor(session, now=now, verified=False)
    client.put("/api/v1/vendors/me/payout-identity", json=BANK, headers=factories.token(session, old, now=now))
    old.is_active_account = False  # banned
    session.commit()
    new = factories.vendor(session, now=now, verified=False)
    refused = client.put(
        "/api/v1/vendors/me/payout-identity", json=BANK, headers=factories.token(session, new, now=now)
    )
    assert refused.status_code == 403 and "closed" in refused.get_json()["message"]
    session.expire_all()
    assert not new.is_active_account and new.vendor_profile.payout_fingerprint is None


def test_bad_details_are_422_naming_the_field_and_change_nothing(client, session, now):
    vendor = factories.vendor(session, now=now, verified=False)
    headers = factories.token(session, vendor, now=now)
    refused = client.put("/api/v1/vendors/me/payout-identity", json={**BANK, "iban": "GB00 0000"}, headers=headers)
    assert refused.status_code == 422 and "iban" in refused.get_json()["errors"]
    missing = client.put("/api/v1/vendors/me/payout-identity", json={"iban": BANK["iban"]}, headers=headers)
    assert missing.status_code == 422 and "tax_number" in missing.get_json()["errors"]
    session.expire_all()
    assert vendor.vendor_profile.payout_fingerprint is None


def test_only_operators_verify_and_verified_vendors_bid_on_every_pool(client, session, now):
    vendor = factories.vendor(session, now=now, verified=False)
    strict = factories.open_pool(session, now=now)  # new pools take verified vendors only
    lenient = factories.open_pool(session, now=now, allow_unverified_vendors=True)
    headers = factories.token(session, vendor, now=now)
    bid = {"tiers": [{"min_quantity": 1, "unit_price": "9.00"}], "capacity": 10}
    refused = client.post(f"/api/v1/pools/{strict.id}/bids", json=bid, headers=headers)
    assert refused.status_code == 403 and "verified vendors" in refused.get_json()["message"]
    assert client.post(f"/api/v1/pools/{lenient.id}/bids", json=bid, headers=headers).status_code == 201

    client.put("/api/v1/vendors/me/payout-identity", json=BANK, headers=headers)
    stranger = factories.token(session, factories.user(session, now=now), now=now)
    assert client.post(f"/api/v1/admin/vendors/{vendor.id}/verify", headers=stranger).status_code == 404
    assert client.get("/api/v1/admin/vendors", headers=stranger).status_code == 404
    operator = factories.token(session, factories.user(session, now=now, is_admin=True), now=now)
    assert [v["user_id"] for v in client.get("/api/v1/admin/vendors", headers=operator).get_json()] == [vendor.id]
    verified = client.post(f"/api/v1/admin/vendors/{vendor.id}/verify", headers=operator)
    assert verified.status_code == 200 and verified.get_json()["verified"] is True
    assert client.post(f"/api/v1/pools/{strict.id}/bids", json=bid, headers=headers).status_code == 201
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "vendor.verify")) == 1


def test_the_account_page_takes_payout_details_and_the_operator_page_verifies(client, session, now):
    vendor = factories.vendor(session, now=now, verified=False)
    log_in(client, vendor.email)
    bad = submit(client, "/account", "/account/payout-identity", {"sort_code": "12", "tax_number": "AB123456C"})
    assert bad.status_code == 400 and "A sort code is 6 digits" in bad.get_data(as_text=True)
    good = submit(client, "/account", "/account/payout-identity", BANK, follow=True)
    assert "An operator verifies them" in good.get_data(as_text=True)
    client.post("/logout", data={})
    operator = factories.user(session, now=now, is_admin=True)
    log_in(client, operator.email)
    queue = client.get("/admin/vendors").get_data(as_text=True)
    assert vendor.vendor_profile.legal_name in queue
    done = submit(client, "/admin/vendors", f"/admin/vendors/{vendor.id}/verify", {}, follow=True)
    assert "is verified" in done.get_data(as_text=True)
    assert session.scalar(select(VendorProfile.verified_by).where(VendorProfile.user_id == vendor.id)) == operator.id
