"""Social pages driven like a browser without JavaScript: access rules, bad input, invites, inbox, clubs."""

from __future__ import annotations

import re

import pytest
from flask import render_template_string
from flask import session as flask_session
from sqlalchemy import func, select

from app.clubs.models import Club, ClubMember, ClubPool
from app.notifications.models import Notification
from app.social import service
from app.social.models import CategoryFollow, Invite, InviteJoin, Post
from app.web.extensions import db
from app.web.social.context import pool_social_context
from app.web.social.web import INVITES_KEY, MAX_REMEMBERED_INVITES, record_pending_invite
from tests import factories
from tests.social.conftest import actor, club, post
from tests.web_helpers import log_in, submit

PANEL = '{% from "social/pool_panel.html" import pool_social %}{{ pool_social(**social) }}'


def count(session, column):
    session.expire_all()
    return session.scalar(select(func.count(column)))


def as_user(client, user):
    log_in(client, user.email)
    return user


def panel(app, session, pool, viewer):
    """The pool page's social panel as `viewer` sees it (the lead's one-line include)."""
    with app.test_request_context("/"):
        social = pool_social_context(session, pool, viewer, "http://localhost/")
        return render_template_string(PANEL, social=social)


# --- posting -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("organiser", 302),
        ("member", 302),
        ("vendor_with_bid", 302),
        ("withdrawn", 403),
        ("vendor_without_bid", 403),
        ("outsider", 403),
    ],
)
def test_who_may_post_on_the_web(client, session, now, role, status):
    pool = factories.open_pool(session, now=now)
    as_user(client, actor(session, pool=pool, role=role, now=now))
    response = submit(client, "/", f"/pools/{pool.id}/posts", {"body": "Delivery in March?"})
    assert response.status_code == status
    assert count(session, Post.id) == (1 if status == 302 else 0)


def test_anonymous_visitors_are_sent_to_log_in(client, session, now):
    pool = factories.open_pool(session, now=now)
    response = submit(client, "/login", f"/pools/{pool.id}/posts", {"body": "hi"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert count(session, Post.id) == 0


@pytest.mark.parametrize("where", ["draft", "club", "missing"])
def test_posting_where_you_cannot_see_the_pool_is_not_found(client, session, now, where):
    organiser = factories.user(session, now=now)
    pool = factories.draft_pool(session, now=now, organiser=organiser) if where == "draft" else None
    if where == "club":
        pool = factories.open_pool(session, now=now, organiser=organiser, visibility="club")
        service.attach_pool(session, club=club(session, now=now, owner=organiser), pool=pool, actor=organiser, now=now)
        session.commit()
    as_user(client, factories.user(session, now=now))
    response = submit(client, "/", f"/pools/{pool.id if pool else 999}/posts", {"body": "hi"})
    assert response.status_code == 404
    assert count(session, Post.id) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [("", "Write something before posting."), ("   ", "Write something before posting."),
     ("é" * 2001, "Keep posts to 2,000 characters")],
)  # fmt: skip
def test_a_bad_post_is_shown_again_with_the_error_and_the_text(client, session, now, body, message):
    pool = factories.open_pool(session, now=now)
    as_user(client, pool.organiser)
    response = submit(client, "/", f"/pools/{pool.id}/posts", {"body": body})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in page and 'aria-invalid="true"' in page
    assert f">{body}</textarea>" in page
    assert count(session, Post.id) == 0


@pytest.mark.parametrize(
    ("role", "status"), [("organiser", 302), ("author", 404), ("member", 404), ("vendor_with_bid", 404)]
)
@pytest.mark.parametrize("action", ["pin", "hide"])
def test_who_may_pin_and_hide_posts(client, session, now, role, status, action):
    pool = factories.open_pool(session, now=now)
    author = actor(session, pool=pool, role="member", now=now)
    made = post(session, pool=pool, now=now, author=author)
    as_user(client, author if role == "author" else actor(session, pool=pool, role=role, now=now))
    response = submit(client, "/", f"/posts/{made}/{action}")
    assert response.status_code == status
    session.expire_all()
    stored = session.get(Post, made)
    assert (stored.is_pinned if action == "pin" else stored.is_hidden) is (status == 302)


def test_an_unknown_post_is_not_found(client, session, now):
    as_user(client, factories.user(session, now=now))
    assert submit(client, "/", "/posts/424242/pin").status_code == 404


def test_the_organiser_unpins_and_shows_again(client, session, now):
    pool = factories.open_pool(session, now=now)
    made = post(session, pool=pool, now=now)
    as_user(client, pool.organiser)
    for action, field in (("pin", "pinned"), ("hide", "hidden")):
        submit(client, "/", f"/posts/{made}/{action}")
        submit(client, "/", f"/posts/{made}/{action}", {field: "0"})
    session.expire_all()
    stored = session.get(Post, made)
    assert not stored.is_pinned and not stored.is_hidden


# --- the panel on the pool page ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("viewer", "sees_hidden", "has_buttons"),
    [("organiser", True, True), ("author", True, False), ("member", False, False), ("anonymous", False, False)],
)
def test_the_panel_shows_hidden_posts_and_moderation_to_the_right_people(
    app, session, now, viewer, sees_hidden, has_buttons
):
    pool = factories.open_pool(session, now=now)
    author = actor(session, pool=pool, role="member", now=now)
    hidden = post(session, pool=pool, now=now, author=author, body="Secret remark")
    post(session, pool=pool, now=now, body="Public remark")
    service.set_hidden(session, post_id=hidden, actor=pool.organiser, hidden=True, now=now)
    session.commit()
    who = {"organiser": pool.organiser, "author": author, "anonymous": None}.get(viewer)
    who = actor(session, pool=pool, role="member", now=now) if viewer == "member" else who
    page = panel(app, session, pool, who)
    assert "Public remark" in page
    assert ("Secret remark" in page) is sees_hidden
    assert (f'action="/posts/{hidden}/pin"' in page) is has_buttons


def test_vendors_posts_carry_a_vendor_badge(app, session, now):
    pool = factories.open_pool(session, now=now)
    vendor = actor(session, pool=pool, role="vendor_with_bid", now=now)
    post(session, pool=pool, now=now, author=vendor, body="We can deliver in March.")
    page = panel(app, session, pool, None)
    assert re.search(r"</strong></a>\s*<span class=\"badge\">vendor</span>", page)


@pytest.mark.parametrize(("role", "has_form"), [("member", True), ("outsider", False), ("anonymous", False)])
def test_the_post_form_is_offered_to_those_who_may_post(app, session, now, role, has_form):
    pool = factories.open_pool(session, now=now)
    who = None if role == "anonymous" else actor(session, pool=pool, role=role, now=now)
    page = panel(app, session, pool, who)
    assert ('<label for="f-post-body">' in page) is has_form
    assert "No posts yet." in page


# --- invite links --------------------------------------------------------------------------------


def test_an_invite_link_counts_who_joined_through_it(app, client, session, now):
    pool = factories.open_pool(session, now=now)
    inviter = as_user(client, actor(session, pool=pool, role="member", now=now))
    assert submit(client, "/", f"/pools/{pool.id}/invite").status_code == 302
    code = session.scalar(select(Invite.code))
    assert f"http://localhost/i/{code}" in panel(app, session, pool, inviter)

    friend = app.test_client()
    landing = friend.get(f"/i/{code}")
    assert landing.status_code == 302 and landing.headers["Location"].endswith(f"/pools/{pool.id}")
    with friend.session_transaction() as stored:
        assert stored[INVITES_KEY] == [[pool.id, code]]
    joined = factories.commitment(session, pool=pool, now=now)
    with app.test_request_context("/"):
        flask_session[INVITES_KEY] = [[pool.id, code]]
        record_pending_invite(db.session.get(type(joined), joined.id))
        db.session.commit()
        assert flask_session[INVITES_KEY] == []
    assert count(session, InviteJoin.id) == 1
    assert "1 joined through your link." in panel(app, session, pool, inviter)


def test_the_organiser_sees_joins_per_inviter(app, session, now):
    pool = factories.open_pool(session, now=now)
    inviter = factories.user(session, now=now, display_name="Priya")
    code = service.invite_for(session, pool_id=pool.id, inviter=inviter, now=now).code
    service.record_invite_join(session, code, factories.commitment(session, pool=pool, now=now), now)
    session.commit()
    assert re.search(r"<td>Priya</td><td>1</td>", panel(app, session, pool, pool.organiser))
    assert "Priya</td>" not in panel(app, session, pool, inviter)


@pytest.mark.parametrize("case", ["unknown", "club_pool"])
def test_an_invite_link_the_visitor_may_not_follow_is_not_found(client, session, now, case):
    code = "no-such-code"
    if case == "club_pool":
        organiser = factories.user(session, now=now)
        pool = factories.open_pool(session, now=now, organiser=organiser, visibility="club")
        service.attach_pool(session, club=club(session, now=now, owner=organiser), pool=pool, actor=organiser, now=now)
        code = service.invite_for(session, pool_id=pool.id, inviter=organiser, now=now).code
        session.commit()
    assert client.get(f"/i/{code}").status_code == 404


def test_there_is_no_invite_link_to_a_draft(client, session, now):
    pool = factories.draft_pool(session, now=now)
    as_user(client, pool.organiser)
    assert submit(client, "/", f"/pools/{pool.id}/invite").status_code == 404
    assert count(session, Invite.id) == 0


# --- CSRF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data", "column"),
    [
        ("/pools/{pool}/posts", {"body": "hi"}, Post.id),
        ("/pools/{pool}/invite", {}, Invite.id),
        ("/following", {"categories": "solar"}, CategoryFollow.id),
        ("/clubs/new", {"name": "Elm Street"}, Club.id),
    ],
)
def test_forms_without_a_csrf_token_change_nothing(client, session, now, path, data, column):
    pool = factories.open_pool(session, now=now)
    as_user(client, pool.organiser)
    response = client.post(path.format(pool=pool.id), data=data)
    assert response.status_code == 302
    assert count(session, column) == 0


# --- inbox ---------------------------------------------------------------------------------------


def test_an_empty_inbox_explains_what_will_arrive(client, session, now):
    as_user(client, factories.user(session, now=now))
    page = client.get("/inbox").get_data(as_text=True)
    assert "Nothing here yet" in page


def test_the_inbox_lists_notifications_and_marks_them_read(client, session, now):
    pool = factories.open_pool(session, now=now, title="Green coffee")
    member = as_user(client, factories.commitment(session, pool=pool, now=now).member)
    service.notify_pool_members(session, pool, "pool_tipped", "“Green coffee” has tipped!", now)
    session.commit()
    page = client.get("/inbox").get_data(as_text=True)
    assert "“Green coffee” has tipped!" in page and "1 unread." in page
    submit(client, "/inbox", "/inbox/read")
    assert service.unread_count(session, member) == 0
    assert "0 unread." in client.get("/inbox").get_data(as_text=True)


@pytest.mark.parametrize("notification_id", ["abc", "999999", "other"])
def test_marking_a_bad_or_someone_elses_notification_changes_nothing(client, session, now, notification_id):
    pool = factories.open_pool(session, now=now)
    mine, theirs = factories.commitment(session, pool=pool, now=now), factories.commitment(session, pool=pool, now=now)
    service.notify_pool_members(session, pool, "pool_tipped", "Tipped", now, include_organiser=False)
    session.commit()
    other = session.scalar(select(Notification.id).where(Notification.user_id == theirs.member_id))
    as_user(client, mine.member)
    target = str(other) if notification_id == "other" else notification_id
    response = submit(client, "/inbox", "/inbox/read", {"notification_id": target})
    assert response.status_code == 302
    session.expire_all()
    assert service.unread_count(session, mine.member) == 1 and service.unread_count(session, theirs.member) == 1


# --- following -----------------------------------------------------------------------------------


def test_following_categories_lists_their_open_pools(client, session, now):
    factories.open_pool(session, now=now, category="coffee", title="Green beans for cafés")
    as_user(client, factories.user(session, now=now))
    page = client.get("/following").get_data(as_text=True)
    assert '<label for="f-cat-coffee"' in page and "Follow a category above" in page
    response = client.post("/following", data={"categories": ["coffee", "bikes"], "csrf_token": _csrf(page)})
    assert response.status_code == 302
    page = client.get("/following").get_data(as_text=True)
    assert "Green beans for cafés" in page and 'value="coffee" checked' in page


def test_an_unknown_category_is_shown_on_the_form_and_changes_nothing(client, session, now):
    as_user(client, factories.user(session, now=now))
    page = client.get("/following").get_data(as_text=True)
    response = client.post("/following", data={"categories": ["coffee", "yachts"], "csrf_token": _csrf(page)})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Unknown category: yachts." in page and 'value="coffee" checked' in page
    assert count(session, CategoryFollow.id) == 0


def _csrf(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


# --- clubs ---------------------------------------------------------------------------------------


def test_the_club_list_has_a_helpful_empty_state(client):
    assert "No clubs yet." in client.get("/clubs").get_data(as_text=True)


def test_starting_a_club_makes_you_its_admin(client, session, now):
    owner = as_user(client, factories.user(session, now=now))
    response = submit(client, "/clubs/new", "/clubs/new", {"name": "Elm Street buyers", "description": "Our street"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/clubs/elm-street-buyers")
    page = client.get("/clubs/elm-street-buyers").get_data(as_text=True)
    assert "You are an admin of this club." in page and owner.display_name in page


@pytest.mark.parametrize(
    ("form", "field_message"),
    [
        ({"name": "Kept name", "slug": "elm-street"}, "That address is taken"),
        ({"name": "Kept name", "slug": "Not A Slug"}, "lower-case letters, digits or hyphens"),
        ({"name": "", "description": "Kept name"}, "Give your club a name."),
    ],
)
def test_bad_club_forms_are_shown_again_with_errors_and_input(client, session, now, form, field_message):
    club(session, now=now, slug="elm-street")
    as_user(client, factories.user(session, now=now))
    response = submit(client, "/clubs/new", "/clubs/new", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert field_message in page and "Kept name" in page and 'aria-invalid="true"' in page
    assert count(session, Club.id) == 1


def test_joining_twice_is_explained_and_changes_nothing(client, session, now):
    the_club = club(session, now=now)
    as_user(client, factories.user(session, now=now))
    assert submit(client, f"/clubs/{the_club.slug}", f"/clubs/{the_club.slug}/join").status_code == 302
    response = submit(client, f"/clubs/{the_club.slug}", f"/clubs/{the_club.slug}/join")
    assert response.status_code == 409
    assert "You are already a member of this club." in response.get_data(as_text=True)
    assert count(session, ClubMember.id) == 2


def test_leaving_a_club(client, session, now):
    the_club = club(session, now=now)
    member = as_user(client, factories.user(session, now=now))
    service.join_club(session, club=the_club, user=member, now=now)
    session.commit()
    assert submit(client, f"/clubs/{the_club.slug}", f"/clubs/{the_club.slug}/leave").status_code == 302
    assert count(session, ClubMember.id) == 1
    response = submit(client, f"/clubs/{the_club.slug}", f"/clubs/{the_club.slug}/leave")
    assert response.status_code == 409 and "You are not a member" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/clubs/nope", "/clubs/nope/join", "/clubs/nope/leave"])
def test_an_unknown_club_is_not_found(client, session, now, path):
    as_user(client, factories.user(session, now=now))
    response = submit(client, "/clubs", path) if path.endswith(("join", "leave")) else client.get(path)
    assert response.status_code == 404


def test_an_organiser_adds_their_pool_to_their_club_and_members_see_it(client, session, now):
    organiser = as_user(client, factories.user(session, now=now))
    the_club = club(session, now=now, owner=organiser)
    pool = factories.open_pool(session, now=now, organiser=organiser, visibility="club", title="Club heating oil")
    page = client.get(f"/clubs/{the_club.slug}").get_data(as_text=True)
    assert '<label for="f-pool_id">' in page
    assert (
        submit(client, f"/clubs/{the_club.slug}", f"/clubs/{the_club.slug}/pools", {"pool_id": pool.id}).status_code
        == 302
    )
    assert "Club heating oil" in client.get(f"/clubs/{the_club.slug}").get_data(as_text=True)
    assert "Club heating oil" not in _anonymous(client, f"/clubs/{the_club.slug}")


def _anonymous(client, path):
    other = client.application.test_client()
    return other.get(path).get_data(as_text=True)


@pytest.mark.parametrize("pool_id", ["someone_elses", "abc"])
def test_adding_a_pool_you_do_not_run_changes_nothing(client, session, now, pool_id):
    member = as_user(client, factories.user(session, now=now))
    the_club = club(session, now=now)
    service.join_club(session, club=the_club, user=member, now=now)
    session.commit()
    target = factories.open_pool(session, now=now).id if pool_id == "someone_elses" else pool_id
    response = submit(client, f"/clubs/{the_club.slug}", f"/clubs/{the_club.slug}/pools", {"pool_id": target})
    assert response.status_code in {400, 404}
    assert count(session, ClubPool.id) == 0


@pytest.mark.parametrize(
    ("path", "status"), [("/inbox", 302), ("/following", 302), ("/clubs/new", 302), ("/clubs", 200)]
)
def test_pages_that_need_an_account_send_anonymous_visitors_to_log_in(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    if status == 302:
        assert "/login" in response.headers["Location"]


def test_only_the_latest_invite_links_are_remembered_so_the_cookie_stays_small(client, session, now):
    codes = []
    for _ in range(MAX_REMEMBERED_INVITES + 3):
        pool = factories.open_pool(session, now=now)
        codes.append(service.invite_for(session, pool_id=pool.id, inviter=pool.organiser, now=now).code)
    session.commit()
    for code in codes:
        client.get(f"/i/{code}")
    with client.session_transaction() as stored:
        assert [code for _, code in stored[INVITES_KEY]] == codes[-MAX_REMEMBERED_INVITES:]
