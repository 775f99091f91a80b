"""axe-core in Chromium on the main pages: no serious or critical violations; keyboard and phone checks."""

from __future__ import annotations

import json

import pytest

from tests.browser.api import PASSWORD, ApiUser, Operator
from tests.browser.conftest import ROOT, axe_violations, screenshot

pytestmark = pytest.mark.browser
REPORT = ROOT / "test-artifacts" / "axe-report.json"


def log_in(page, user: ApiUser) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture(scope="module")
def world(live_app):
    organiser = ApiUser(live_app, "Ada Access")
    pool = organiser.open_pool("Accessible solar pool", min_quantity=4)
    member = ApiUser(live_app, "Ben Access")
    member.join(pool["id"], 2, "300")
    vendor = ApiUser(live_app, "Cy Access")
    vendor.become_vendor(["solar"], verified_by=Operator(live_app))
    vendor.bid(pool["id"], [(1, "280"), (5, "260")])
    return {"organiser": organiser, "member": member, "vendor": vendor, "pool": pool["id"], "live_app": live_app}


PAGES = [
    ("visitor", "/"),
    ("visitor", "/pools"),
    ("visitor", "/login"),
    ("visitor", "/register"),
    ("visitor", "/pools/{pool}"),
    ("member", "/pools/{pool}"),
    ("member", "/my/pools"),
    ("member", "/inbox"),
    ("member", "/account"),
    ("vendor", "/vendor"),
    ("vendor", "/pools/{pool}/bid"),
    ("organiser", "/pools/{pool}/console"),
    ("organiser", "/pools/{pool}/deliveries"),
    ("organiser", "/pools/new"),
    ("visitor", "/clubs"),
    ("visitor", "/reputation/levels"),
    ("visitor", "/users/{vendor}"),
    ("vendor", "/account"),
]


def test_main_pages_have_no_serious_accessibility_violations(new_page, world):
    found: dict[str, list[dict]] = {}
    pages = {}
    for who, path in PAGES:
        if who not in pages:
            pages[who] = new_page()
            if who != "visitor":
                log_in(pages[who], world[who])
        page = pages[who]
        url = path.format(pool=world["pool"], vendor=world["vendor"].id)
        page.goto(url)
        violations = axe_violations(page, impacts=("minor", "moderate", "serious", "critical"))
        found[f"{who} {url}"] = [
            {"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"]), "help": v["help"]} for v in violations
        ]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(found, indent=2))
    serious = {page: [v for v in vs if v["impact"] in ("serious", "critical")] for page, vs in found.items()}
    assert {page: vs for page, vs in serious.items() if vs} == {}


def test_keyboard_users_can_skip_to_content_and_see_focus(new_page, world):
    page = new_page()
    page.goto(f"/pools/{world['pool']}")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_the_pool_page_fits_a_phone(new_page, world):
    page = new_page(width=375, height=740)
    page.goto(f"/pools/{world['pool']}")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    screenshot(page, "pool-page-phone")


def test_live_updates_refresh_demand_without_reloading(new_page, world):
    page = new_page()
    page.goto(f"/pools/{world['pool']}")
    before = int(page.locator("[data-live=committed]").inner_text())
    late = ApiUser(world["live_app"], "Late Joiner")
    late.join(world["pool"], 3, "300")
    page.wait_for_function(
        f"() => document.querySelector('[data-live=committed]').textContent === '{before + 3}'", timeout=12_000
    )
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1  # no reload
