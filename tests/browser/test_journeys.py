"""The three journeys end to end in headless Chromium, with screenshots of the key pages.

Each journey follows one person in the browser; the other people act through the JSON API, and
the scheduler's settlement step runs as the operator's CLI (`flask pools settle`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.api import PASSWORD, ApiUser, Operator
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def register(page, live_app, name: str, email: str) -> None:
    """Sign up, then open the link the confirmation email carries (which logs the new member in)."""
    page.goto("/register")
    fill_sign_up(page, name, email)
    confirm_email(page, live_app, email)


def fill_sign_up(page, name: str, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name shown to others").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_text(f"We sent a link to {email}").wait_for()


def confirm_email(page, live_app, email: str) -> None:
    (link,) = live_app.emailed_links(email)
    page.goto(link)
    page.get_by_text("Your email address is confirmed").wait_for()


def register_vendor(page, live_app, name: str, email: str, business: str, operator: Operator) -> None:
    """Sign up in the browser, become a vendor of solar & batteries and give payout details on the
    account page; the operator verifies the vendor, which the account page then says."""
    register(page, live_app, name, email)
    page.goto("/account")
    page.get_by_label("Legal name of your business").fill(business)
    page.get_by_label("Solar & batteries").check()
    page.get_by_role("button", name="Become a vendor").click()
    page.get_by_label("Sort code", exact=True).fill("40-11-22")
    page.get_by_label("Account number", exact=True).fill(f"{abs(hash(email)) % 10**8:08d}")
    page.get_by_label("Tax number", exact=True).fill("GB123456789")
    page.get_by_role("button", name="Save payout details").click()
    page.get_by_text("An operator verifies them").wait_for()
    vendor_id = int(page.get_by_role("link", name="Your public profile").get_attribute("href").rsplit("/", 1)[1])
    operator("POST", f"/api/v1/admin/vendors/{vendor_id}/verify")
    page.goto("/account")
    page.get_by_text("Verified on").wait_for()


def test_member_journey(new_page, live_app):
    organiser = ApiUser(live_app, "Olga Organiser")
    pool = organiser.open_pool("Member journey solar panels", min_quantity=10)
    vendor = ApiUser(live_app, "Val Vendor")
    vendor.become_vendor(["solar"], verified_by=Operator(live_app))

    page = new_page()
    register(page, live_app, "Mina Member", "mina@example.com")
    page.goto("/pools")
    page.get_by_label("Search").fill("journey solar")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Member journey solar panels").click()

    page.get_by_label("Quantity (panel)").fill("4")
    page.get_by_label("Most you'll pay per panel (GBP)").fill("250")
    page.get_by_role("button", name="Join pool").click()
    page.get_by_text("You're in!").wait_for()
    assert "4 of 10 panel committed" in page.content()

    page.get_by_role("button", name="Get your invite link").click()
    invite_url = page.get_by_label("Your invite link").input_value()
    friend = new_page()
    friend.goto(invite_url)
    friend.get_by_role("link", name="Log in to join").click()
    friend.get_by_role("link", name="Create an account").click()
    fill_sign_up(friend, "Fred Friend", "friend@example.com")
    confirm_email(friend, live_app, "friend@example.com")
    friend.goto(invite_url)  # back to the pool from the invite, now signed in
    friend.get_by_label("Quantity (panel)").fill("7")
    friend.get_by_label("Most you'll pay per panel (GBP)").fill("240")
    friend.get_by_text("Take more if the price falls").click()  # a demand curve: 9 if the price falls to £199
    friend.get_by_label("Point 2: how many (panel)").fill("9")
    friend.get_by_label("Point 2: most per panel (GBP)").fill("199")
    friend.get_by_role("button", name="Join pool").click()
    friend.get_by_text("You're in!").wait_for()
    friend.get_by_text("You're in for 7 panel at up to £240.00, 9 panel at up to £199.00.").wait_for()

    vendor.bid(pool["id"], [(1, "230"), (20, "199")])
    page.reload()
    page.get_by_text("1 joined through your link.").wait_for()
    assert "13 of 10 panel committed" in page.content() and "£230.00" in page.content()  # the most each curve takes
    page.get_by_text("Closing now: 11 panel served at £230.00 each, by 1 vendor.").wait_for()
    # 20 panel reach the £199 tier; at £199 the members want 4 + 9 (the friend's curve): 7 more.
    page.get_by_text("7 more panel wanted and the price drops to £199.00.").wait_for()
    screenshot(page, "pool-page")

    organiser("POST", f"/api/v1/pools/{pool['id']}/close")
    live_app.cli("pools", "settle")
    page.reload()
    page.get_by_text("Awarded at £230.00 per panel").wait_for()
    page.get_by_text("£920.00 is held until delivery is confirmed").wait_for()

    page.get_by_role("button", name="Confirm delivery").click()
    page.get_by_text("This releases £920.00 to the vendor now").wait_for()  # a confirm step, no JavaScript
    page.get_by_role("button", name="Yes, release the money").click()
    page.get_by_text("Thanks for confirming delivery").wait_for()
    page.get_by_text("£920.00 released to the vendor on").wait_for()
    for name in ("Val Vendor", "Olga Organiser"):
        card = page.locator(".card", has=page.get_by_role("heading", name=re.compile(name)))
        card.get_by_label("Positive").check()
        card.get_by_role("button", name="Leave feedback").click()
        page.get_by_text("Thanks! Your feedback stays hidden").wait_for()
    assert page.get_by_text("You rated them positive").count() == 2
    screenshot(page, "member-after-feedback")


def test_vendor_journey(new_page, live_app):
    organiser = ApiUser(live_app, "Otto Organiser")
    pool = organiser.open_pool("Vendor journey battery pool", min_quantity=5, unit="battery")
    buyers = [ApiUser(live_app, f"Buyer {n}") for n in range(3)]
    for buyer in buyers:
        buyer.join(pool["id"], 4, "5000")
    rival = ApiUser(live_app, "Rival Vendor")
    rival.become_vendor(["solar"], verified_by=Operator(live_app))

    page = new_page()
    register_vendor(page, live_app, "Vera Vendor", "vera@example.com", "Vera Batteries Ltd", Operator(live_app))
    page.get_by_role("link", name="Vendor dashboard").click()
    page.get_by_role("link", name="Vendor journey battery pool").wait_for()

    page.goto(f"/pools/{pool['id']}/bid")
    page.get_by_label("Tier 1 from quantity").fill("1")
    page.get_by_label("Tier 1 unit price").fill("4800")
    page.get_by_label("Tier 2 from quantity").fill("10")
    page.get_by_label("Tier 2 unit price").fill("4500")
    page.get_by_label("Capacity (most battery you can supply)").fill("50")
    page.get_by_role("button", name="Place bid").click()
    page.get_by_text("Your bid is in.").wait_for()
    assert page.locator("td", has_text="#1").count() >= 1

    rival.bid(pool["id"], [(1, "4400")])
    page.goto("/vendor")
    assert page.locator("td", has_text="#2").count() >= 1
    screenshot(page, "vendor-dashboard")

    page.goto(f"/pools/{pool['id']}/bid")
    page.get_by_label("Tier 2 unit price").fill("4300")
    page.get_by_role("button", name="Revise bid").click()
    page.get_by_text("Your bid is in.").wait_for()
    assert page.locator("td", has_text="#1").count() >= 1

    organiser("POST", f"/api/v1/pools/{pool['id']}/close")
    live_app.cli("pools", "settle")
    for buyer in buyers:  # each member confirms their own delivery
        buyer("POST", f"/api/v1/pools/{pool['id']}/delivery", {})
    live_app.cli("pools", "release")  # the vendor is paid its released lines in one batch
    page.goto("/vendor")
    page.get_by_text("won").first.wait_for()
    assert page.get_by_text("You get £16,340.00 after the £860.00 fee").count() == 3  # 4 × 4,300 less 5 %
    payouts = page.locator("table", has=page.get_by_role("columnheader", name="Paid to you"))
    assert "£49,020.00" in payouts.inner_text() and "£2,580.00" in payouts.inner_text()

    page.goto(f"/pools/{pool['id']}")
    winner = page.get_by_text("Vera Batteries Ltd verified")  # a new, verified vendor won its first pool
    winner.first.wait_for()
    screenshot(page, "verified-winner")
    card = page.locator(".card", has=page.get_by_role("heading", name=re.compile("Buyer 0")))
    card.get_by_label("Positive").check()
    card.get_by_role("button", name="Leave feedback").click()
    page.get_by_text("Thanks! Your feedback stays hidden").wait_for()


def test_split_award_journey(new_page, live_app):
    """A vendor short of capacity wins part of a pool beside a cheaper rival and downloads whom to deliver to."""
    organiser = ApiUser(live_app, "Olga Organiser")
    pool = organiser.open_pool("Split award battery pool", min_quantity=6, unit="battery", needs_address=True)
    buyers = [ApiUser(live_app, f"Split buyer {n}") for n in range(3)]
    for n, buyer in enumerate(buyers):
        body = {"quantity": 2, "max_unit_price": "5000", "delivery_address": f"{n + 1} Birch Lane, York"}
        buyer("PUT", f"/api/v1/pools/{pool['id']}/commitment", body)
    rival = ApiUser(live_app, "Cheap Rival")
    rival.become_vendor(["solar"], verified_by=Operator(live_app))

    page = new_page()
    register_vendor(page, live_app, "Stella Split", "stella@example.com", "Stella Storage Ltd", Operator(live_app))
    page.goto(f"/pools/{pool['id']}/bid")
    page.get_by_label("Tier 1 from quantity").fill("1")
    page.get_by_label("Tier 1 unit price").fill("4800")
    page.get_by_label("Capacity (most battery you can supply)").fill("4")
    page.get_by_role("button", name="Place bid").click()
    page.get_by_text("Your bid is in.").wait_for()
    rival.bid(pool["id"], [(1, "4400")], capacity=2)  # cheaper, but can serve one member only

    organiser("POST", f"/api/v1/pools/{pool['id']}/close")
    live_app.cli("pools", "settle")
    page.goto(f"/pools/{pool['id']}")
    page.get_by_text("Shared by 2 vendors at one price").wait_for()
    page.get_by_role("link", name="Your delivery list").click()
    table = page.locator("table")
    assert "2 Birch Lane, York" in table.inner_text() and "3 Birch Lane, York" in table.inner_text()
    assert "1 Birch Lane" not in page.content()  # the rival's member
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the list as CSV").click()
    rows = download.value.path().read_text().splitlines()
    assert rows[0].startswith("member,quantity") and len(rows) == 3
    assert "Split buyer 1" in rows[1] and "2 Birch Lane, York" in rows[1]
    screenshot(page, "delivery-list")


def test_organiser_journey(new_page, live_app):
    page = new_page()
    register(page, live_app, "Ola Organiser", "ola@example.com")
    page.get_by_role("link", name="Start a pool").first.click()
    page.get_by_label("Title").fill("Organiser journey heat pumps")
    page.get_by_label("Category").select_option("heating")
    page.get_by_label("Unit").fill("pump")
    page.get_by_label("Tipping point (minimum total quantity)").fill("3")
    page.get_by_label("Closes at (UTC)").fill((datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Save draft").click()
    page.get_by_text("Draft saved.").wait_for()
    page.get_by_role("button", name="Publish").click()
    page.get_by_text("Your pool is open.").wait_for()
    pool_id = int(page.url.rstrip("/").split("/")[-1])

    members = [ApiUser(live_app, f"Member {n}") for n in range(2)]
    for member in members:
        member.join(pool_id, 2, "9000")
    vendor = ApiUser(live_app, "Heat Vendor")
    vendor.become_vendor(["heating"], verified_by=Operator(live_app))
    vendor.bid(pool_id, [(1, "8200"), (4, "7900")])
    page.reload()
    page.get_by_text("£7,900.00").first.wait_for()
    assert page.locator("svg[role=img]").count() == 1

    page.get_by_role("button", name="Close and award now").click()
    page.get_by_text("2 members will be charged £31,600.00 now, at £7,900.00 per pump").wait_for()
    page.get_by_role("button", name="Yes, close it now").click()
    page.get_by_text("The pool is closed and awarded.").wait_for()
    live_app.cli("pools", "settle")
    members[0]("POST", f"/api/v1/pools/{pool_id}/delivery", {})

    page.get_by_role("link", name="Open the organiser console").click()
    page.get_by_text("£15,800.00 released to the vendor on").wait_for()
    page.get_by_text("£15,800.00 is held until delivery is confirmed").wait_for()  # the other member's line
    content = page.content()
    assert "vendor_payable" in content and "always zero" in content
    for action in ("pool.publish", "pool.close", "pool.settle", "line.release"):
        assert action in content, action
    screenshot(page, "organiser-console")


def log_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for()


def test_dispute_journey(new_page, live_app):
    """A member disputes, the vendor offers a partial refund, the organiser mediates, the member
    accepts; another member's line is released by the window; the vendor sees both outcomes and
    its payout net of the fee. Member, vendor and organiser each in their own browser."""
    organiser = ApiUser(live_app, "Dora Organiser")
    pool = organiser.open_pool("Dispute journey wood pellets", category="heating", unit="bag", min_quantity=10)
    vendor = ApiUser(live_app, "Pellet Vendor")
    vendor.become_vendor(["heating"], verified_by=Operator(live_app))
    patient = ApiUser(live_app, "Pat Patient")
    patient.join(pool["id"], 5, "12")
    member = new_page()
    register(member, live_app, "Dee Disputer", "dee@example.com")
    member.goto(f"/pools/{pool['id']}")
    member.get_by_label("Quantity (bag)").fill("10")
    member.get_by_label("Most you'll pay per bag (GBP)").fill("12")
    member.get_by_role("button", name="Join pool").click()
    member.get_by_text("You're in!").wait_for()
    vendor.bid(pool["id"], [(1, "10")])
    organiser("POST", f"/api/v1/pools/{pool['id']}/close")
    live_app.cli("pools", "settle")

    member.reload()
    member.get_by_text("£100.00 is held until delivery is confirmed").wait_for()
    member.get_by_label("Only part of it arrived").check()
    member.get_by_label("What happened?").fill("Only 6 of my 10 bags came.")
    member.get_by_role("button", name="Open a dispute").click()
    member.get_by_text("Dispute opened. Your money stays held").wait_for()
    member.get_by_text("£100.00 is held while the dispute is open (waiting for the vendor's answer)").wait_for()
    dispute_url = member.url

    seller = new_page()
    log_in(seller, vendor.email)
    seller.goto("/vendor")
    seller.get_by_role("link", name="Open the dispute").click()
    seller.get_by_label("Offer a partial refund").check()
    seller.get_by_label("Partial refund (GBP)").fill("40.00")
    seller.get_by_label("Message to the member").fill("Sorry: 4 bags were left behind. We refund them.")
    seller.get_by_role("button", name="Send answer").click()
    seller.get_by_text("£40.00 of the £100.00 line").wait_for()  # the confirm step
    seller.get_by_role("button", name="Yes, make the offer").click()
    seller.get_by_text("the vendor offered a partial refund").first.wait_for()

    mediator = new_page()
    log_in(mediator, organiser.email)
    mediator.goto(f"/pools/{pool['id']}/console")
    mediator.get_by_role("link", name="offered").click()
    mediator.get_by_label("Write in the thread").fill("I saw the delivery: 6 bags. The offer looks fair.")
    mediator.get_by_role("button", name="Post").click()
    mediator.get_by_text("I saw the delivery: 6 bags.").wait_for()

    member.goto(dispute_url)
    member.get_by_text("I saw the delivery: 6 bags.").wait_for()
    screenshot(member, "dispute-offer")
    member.get_by_role("button", name="Accept the offer").click()
    member.get_by_text("You get £40.00 back, and £60.00 is released to the vendor now").wait_for()
    member.get_by_role("button", name="Yes, accept").click()
    member.get_by_text("£40.00 refunded; £60.00 released to the vendor").wait_for()

    # The other member did nothing: their line's dispute window ends (test setup: moved into the past).
    live_app.sql("UPDATE payments SET dispute_until = '2000-01-01 00:00:00.000000' WHERE member_id = ?", patient.id)
    assert "Released 1 line(s)" in live_app.cli("pools", "release")

    seller.goto("/vendor")
    seller.get_by_text("£40.00 refunded; £60.00 released to the vendor").wait_for()
    seller.get_by_text("£50.00 released to the vendor").wait_for()
    seller.get_by_text("You get £57.00 after the £3.00 fee").wait_for()
    seller.get_by_text("You get £47.50 after the £2.50 fee").wait_for()
    payouts = seller.locator("table", has=seller.get_by_role("columnheader", name="Paid to you"))
    assert "£104.50" in payouts.inner_text()  # 60 + 50 released, less the 5 % fee
    screenshot(seller, "vendor-dashboard-escrow")
