"""The three journeys end to end in headless Chromium, with screenshots of the key pages.

Each journey follows one person in the browser; the other people act through the JSON API, and
the scheduler's settlement step runs as the operator's CLI (`flask pools settle`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.api import PASSWORD, ApiUser
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


def test_member_journey(new_page, live_app):
    organiser = ApiUser(live_app, "Olga Organiser")
    pool = organiser.open_pool("Member journey solar panels", min_quantity=10)
    vendor = ApiUser(live_app, "Val Vendor")
    vendor.become_vendor(["solar"])

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
    friend.get_by_role("button", name="Join pool").click()
    friend.get_by_text("You're in!").wait_for()

    vendor.bid(pool["id"], [(1, "230"), (20, "199")])
    page.reload()
    page.get_by_text("1 joined through your link.").wait_for()
    assert "11 of 10 panel committed" in page.content() and "£230.00" in page.content()
    assert re.search(r"9 more panel\s*</strong>\s*and the price drops to\s*<strong>£199", page.content())
    screenshot(page, "pool-page")

    organiser("POST", f"/api/v1/pools/{pool['id']}/close")
    live_app.cli("pools", "settle")
    page.reload()
    page.get_by_text("Awarded at £230.00 per panel").wait_for()
    page.get_by_text("You paid £920.00").wait_for()

    page.get_by_role("button", name="Confirm delivery").click()
    page.get_by_text("Thanks for confirming delivery").wait_for()
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
    rival.become_vendor(["solar"])

    page = new_page()
    register(page, live_app, "Vera Vendor", "vera@example.com")
    page.goto("/account")
    page.get_by_label("Legal name of your business").fill("Vera Batteries Ltd")
    page.get_by_label("Solar & batteries").check()
    page.get_by_role("button", name="Become a vendor").click()
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
    organiser("POST", f"/api/v1/pools/{pool['id']}/delivery")
    page.goto("/vendor")
    page.get_by_text("won").first.wait_for()
    assert re.search(r"£49,020\.00 paid \(£2,580\.00 fee\)", page.content())  # 12 × 4,300 less 5 %

    page.goto(f"/pools/{pool['id']}")
    card = page.locator(".card", has=page.get_by_role("heading", name=re.compile("Buyer 0")))
    card.get_by_label("Positive").check()
    card.get_by_role("button", name="Leave feedback").click()
    page.get_by_text("Thanks! Your feedback stays hidden").wait_for()


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
    vendor.become_vendor(["heating"])
    vendor.bid(pool_id, [(1, "8200"), (4, "7900")])
    page.reload()
    page.get_by_text("£7,900.00").first.wait_for()
    assert page.locator("svg[role=img]").count() == 1

    page.get_by_role("button", name="Close and award now").click()
    page.get_by_text("The pool is closed and awarded.").wait_for()
    live_app.cli("pools", "settle")
    members[0]("POST", f"/api/v1/pools/{pool_id}/dispute", {"reason": "One pump arrived dented."})

    page.get_by_role("link", name="Open the organiser console").click()
    page.get_by_text("One pump arrived dented.", exact=True).wait_for()
    screenshot(page, "organiser-console-dispute")
    page.get_by_role("button", name="Delivery was fine: pay the vendor").click()
    page.get_by_text("Dispute resolved.").wait_for()
    content = page.content()
    assert "vendor_payouts" in content and "always zero" in content
    for action in ("pool.publish", "pool.close", "pool.settle", "pool.dispute", "pool.resolve", "pool.complete"):
        assert action in content, action
    screenshot(page, "organiser-console")
