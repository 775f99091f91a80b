"""Social services: who may post and moderate, invite counting, follows, clubs, notification fan-out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.clubs.models import ClubMember
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.notifications.models import Notification
from app.pools import commitments
from app.social import jobs, mail, service
from app.social.models import InviteJoin, Post
from tests import factories
from tests.social.conftest import actor, club, post


def count(session, column):
    return session.scalar(select(func.count(column)))


# --- discussion ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("organiser", True),
        ("member", True),
        ("vendor_with_bid", True),
        ("withdrawn", False),
        ("vendor_without_bid", False),
        ("outsider", False),
    ],
)
def test_who_may_post_to_a_pool(session, now, role, allowed):
    pool = factories.open_pool(session, now=now)
    author = actor(session, pool=pool, role=role, now=now)
    if allowed:
        service.add_post(session, pool_id=pool.id, author=author, body="When is delivery?", now=now)
    else:
        with pytest.raises(Forbidden):
            service.add_post(session, pool_id=pool.id, author=author, body="When is delivery?", now=now)
    assert count(session, Post.id) == (1 if allowed else 0)


@pytest.mark.parametrize(("role", "marked"), [("organiser", "organiser"), ("member", "member"),
                                              ("vendor_with_bid", "vendor")])  # fmt: skip
def test_posts_are_marked_with_the_authors_part_in_the_pool(session, now, role, marked):
    pool = factories.open_pool(session, now=now)
    author = actor(session, pool=pool, role=role, now=now)
    made = service.add_post(session, pool_id=pool.id, author=author, body="Hi", now=now)
    assert made.author_role == marked


def test_nobody_but_the_organiser_sees_a_drafts_discussion(session, now):
    pool = factories.draft_pool(session, now=now)
    with pytest.raises(NotFound):
        service.add_post(session, pool_id=pool.id, author=factories.user(session, now=now), body="Hi", now=now)


@pytest.mark.parametrize("body", ["", "   \n ", "x" * 2001])
def test_empty_or_oversized_posts_are_refused_with_a_field_error(session, now, body):
    pool = factories.open_pool(session, now=now)
    with pytest.raises(ValidationFailed) as refused:
        service.add_post(session, pool_id=pool.id, author=pool.organiser, body=body, now=now)
    assert "body" in refused.value.errors
    assert count(session, Post.id) == 0


def test_a_post_of_exactly_2000_characters_is_accepted(session, now):
    pool = factories.open_pool(session, now=now)
    made = service.add_post(session, pool_id=pool.id, author=pool.organiser, body="x" * 2000, now=now)
    assert len(made.body) == 2000


def test_posts_are_listed_pinned_first_then_newest(session, now):
    pool = factories.open_pool(session, now=now)
    first = post(session, pool=pool, now=now, body="first")
    second = post(session, pool=pool, now=now + timedelta(minutes=1), body="second")
    third = post(session, pool=pool, now=now + timedelta(minutes=2), body="third")
    service.set_pinned(session, post_id=first, actor=pool.organiser, pinned=True, now=now)
    assert [p.id for p in service.list_posts(session, pool, None)] == [first, third, second]


@pytest.mark.parametrize(
    ("viewer", "sees"), [("organiser", True), ("author", True), ("member", False), ("anonymous", False)]
)
def test_hidden_posts_are_seen_only_by_the_organiser_and_the_author(session, now, viewer, sees):
    pool = factories.open_pool(session, now=now)
    author = actor(session, pool=pool, role="member", now=now)
    hidden = post(session, pool=pool, now=now, author=author, body="rude")
    service.set_hidden(session, post_id=hidden, actor=pool.organiser, hidden=True, now=now)
    who = {"organiser": pool.organiser, "author": author, "anonymous": None}.get(viewer)
    if viewer == "member":
        who = actor(session, pool=pool, role="member", now=now)
    assert (hidden in [p.id for p in service.list_posts(session, pool, who)]) is sees


@pytest.mark.parametrize("role", ["member", "vendor_with_bid", "outsider", "author"])
@pytest.mark.parametrize("action", ["pin", "hide"])
def test_only_the_organiser_can_pin_or_hide_everyone_else_is_told_not_found(session, now, role, action):
    pool = factories.open_pool(session, now=now)
    author = actor(session, pool=pool, role="member", now=now)
    made = post(session, pool=pool, now=now, author=author)
    who = author if role == "author" else actor(session, pool=pool, role=role, now=now)
    change = service.set_pinned if action == "pin" else service.set_hidden
    with pytest.raises(NotFound):
        change(session, post_id=made, actor=who, now=now, **{"pinned" if action == "pin" else "hidden": True})
    stored = session.get(Post, made)
    assert not stored.is_pinned and not stored.is_hidden


def test_hiding_a_post_is_audited(session, now):
    from app.audit import trail

    pool = factories.open_pool(session, now=now)
    made = post(session, pool=pool, now=now)
    service.set_hidden(session, post_id=made, actor=pool.organiser, hidden=True, now=now)
    assert [e.action for e in trail(session, pool.id, bids_sealed=False)][-1] == "post.hide"


# --- club pools ----------------------------------------------------------------------------------


def test_a_club_pool_is_seen_by_club_members_and_its_parties_only(session, now):
    organiser = factories.user(session, now=now)
    the_club = club(session, now=now, owner=organiser)
    pool = factories.open_pool(session, now=now, organiser=organiser, visibility="club")
    service.attach_pool(session, club=the_club, pool=pool, actor=organiser, now=now)
    member = factories.user(session, now=now)
    service.join_club(session, club=the_club, user=member, now=now)
    outsider = factories.user(session, now=now)
    assert service.pool_visible_to(session, pool, member)
    assert not service.pool_visible_to(session, pool, outsider)
    assert not service.pool_visible_to(session, pool, None)
    with pytest.raises(NotFound):
        service.add_post(session, pool_id=pool.id, author=outsider, body="hi", now=now)


def test_a_vendor_who_bid_on_a_club_pool_still_sees_it_after_leaving_the_club(session, now):
    """A bid is money on the table: its vendor keeps sight of the pool (and its award) whatever the club does."""
    organiser = factories.user(session, now=now)
    the_club = club(session, now=now, owner=organiser)
    pool = factories.open_pool(session, now=now, organiser=organiser, visibility="club")
    service.attach_pool(session, club=the_club, pool=pool, actor=organiser, now=now)
    vendor = factories.vendor(session, now=now)
    service.join_club(session, club=the_club, user=vendor, now=now)
    session.commit()
    factories.bid(session, pool=pool, now=now, vendor=vendor)
    stranger = factories.vendor(session, now=now)
    service.leave_club(session, club=the_club, user=vendor, now=now)
    session.commit()
    assert service.pool_visible_to(session, pool, vendor)
    assert not service.pool_visible_to(session, pool, stranger)


# --- invites -------------------------------------------------------------------------------------


def test_an_inviter_has_one_link_per_pool(session, now):
    pool = factories.open_pool(session, now=now)
    member = actor(session, pool=pool, role="member", now=now)
    first = service.invite_for(session, pool_id=pool.id, inviter=member, now=now)
    again = service.invite_for(session, pool_id=pool.id, inviter=member, now=now)
    assert first.id == again.id and len(first.code) >= 16


def test_there_is_no_invite_link_to_a_draft(session, now):
    pool = factories.draft_pool(session, now=now)
    with pytest.raises(NotFound):
        service.invite_for(session, pool_id=pool.id, inviter=pool.organiser, now=now)


def test_joins_are_counted_per_inviter_once_per_commitment(session, now):
    pool = factories.open_pool(session, now=now)
    alice, bob = (factories.user(session, now=now, display_name=n) for n in ("Alice", "Bob"))
    codes = {
        u.display_name: service.invite_for(session, pool_id=pool.id, inviter=u, now=now).code for u in (alice, bob)
    }
    for name in ("Alice", "Alice", "Bob"):
        joined = factories.commitment(session, pool=pool, now=now)
        service.record_invite_join(session, codes[name], joined, now)
        service.record_invite_join(session, codes[name], joined, now)  # a repeated call counts once
    assert [(r.display_name, r.joins) for r in service.invite_stats(session, pool)] == [("Alice", 2), ("Bob", 1)]


def test_self_invites_other_pools_and_unknown_codes_are_not_counted(session, now):
    pool, other = factories.open_pool(session, now=now), factories.open_pool(session, now=now)
    member = factories.commitment(session, pool=pool, now=now)
    own = service.invite_for(session, pool_id=pool.id, inviter=member.member, now=now)
    elsewhere = service.invite_for(session, pool_id=other.id, inviter=other.organiser, now=now)
    for code in (own.code, elsewhere.code, "no-such-code", None):
        assert service.record_invite_join(session, code, member, now) is None
    assert count(session, InviteJoin.id) == 0


def test_members_who_withdrew_no_longer_count_for_their_inviter(session, now):
    pool = factories.open_pool(session, now=now)
    code = service.invite_for(session, pool_id=pool.id, inviter=pool.organiser, now=now).code
    joined = factories.commitment(session, pool=pool, now=now)
    service.record_invite_join(session, code, joined, now)
    commitments.withdraw(session, pool_id=pool.id, member=joined.member, now=now)
    assert service.invite_stats(session, pool) == []


# --- following -----------------------------------------------------------------------------------


def test_following_replaces_the_set_of_categories(session, now):
    user = factories.user(session, now=now)
    service.set_followed_categories(session, user=user, categories=["solar", "coffee"], now=now)
    assert service.set_followed_categories(session, user=user, categories=["coffee", "bikes"], now=now) == [
        "coffee",
        "bikes",
    ]


def test_an_unknown_category_changes_nothing(session, now):
    user = factories.user(session, now=now)
    service.set_followed_categories(session, user=user, categories=["solar"], now=now)
    with pytest.raises(ValidationFailed) as refused:
        service.set_followed_categories(session, user=user, categories=["coffee", "yachts"], now=now)
    assert refused.value.errors == {"categories": ["Unknown category: yachts."]}
    assert service.followed_categories(session, user) == ["solar"]


def test_followed_categories_list_open_public_pools_only(session, now):
    user = factories.user(session, now=now)
    service.set_followed_categories(session, user=user, categories=["coffee"], now=now)
    wanted = factories.open_pool(session, now=now, category="coffee", title="Green beans")
    factories.open_pool(session, now=now, category="coffee", visibility="unlisted")
    factories.draft_pool(session, now=now, category="coffee")
    factories.open_pool(session, now=now, category="solar")
    assert [p.id for p in service.pools_in_followed_categories(session, user, now=now)] == [wanted.id]


# --- clubs ---------------------------------------------------------------------------------------


def test_a_clubs_creator_is_its_first_admin(session, now):
    owner = factories.user(session, now=now)
    made = service.create_club(session, owner=owner, name="Café Owners of Leeds", slug=None, description="", now=now)
    assert made.slug == "cafe-owners-of-leeds"
    assert [u.id for u in service.club_admins(session, made)] == [owner.id]


@pytest.mark.parametrize("slug", ["elm-street", "Bad Slug", "-x-", "new", "ab"])
def test_a_taken_or_malformed_address_is_refused_on_the_slug_field(session, now, slug):
    club(session, now=now, slug="elm-street")
    with pytest.raises(ValidationFailed) as refused:
        service.create_club(session, owner=factories.user(session, now=now), name="X", slug=slug, description="",
                            now=now)  # fmt: skip
    assert list(refused.value.errors) == ["slug"]


def test_joining_a_club_twice_is_refused(session, now):
    the_club = club(session, now=now)
    member = factories.user(session, now=now)
    service.join_club(session, club=the_club, user=member, now=now)
    with pytest.raises(Conflict):
        service.join_club(session, club=the_club, user=member, now=now)
    assert count(session, ClubMember.id) == 2


def test_when_the_last_admin_leaves_the_longest_standing_member_takes_over(session, now):
    owner = factories.user(session, now=now)
    the_club = club(session, now=now, owner=owner)
    first, second = factories.user(session, now=now), factories.user(session, now=now)
    service.join_club(session, club=the_club, user=first, now=now + timedelta(minutes=1))
    service.join_club(session, club=the_club, user=second, now=now + timedelta(minutes=2))
    service.leave_club(session, club=the_club, user=owner, now=now)
    assert [u.id for u in service.club_admins(session, the_club)] == [first.id]


def test_leaving_a_club_you_are_not_in_is_refused(session, now):
    with pytest.raises(Conflict):
        service.leave_club(session, club=club(session, now=now), user=factories.user(session, now=now), now=now)


@pytest.mark.parametrize(("who", "allowed"), [("organiser_member", True), ("club_admin", False),
                                              ("organiser_not_member", False), ("plain_member", False)])  # fmt: skip
def test_who_may_attach_a_pool_to_a_club(session, now, who, allowed):
    admin = factories.user(session, now=now)
    the_club = club(session, now=now, owner=admin)
    pool = factories.open_pool(session, now=now)
    if who in {"organiser_member", "plain_member"}:
        service.join_club(session, club=the_club, user=pool.organiser, now=now)
    user = {"club_admin": admin, "plain_member": factories.user(session, now=now)}.get(who, pool.organiser)
    if who == "plain_member":
        service.join_club(session, club=the_club, user=user, now=now)
    if allowed:
        service.attach_pool(session, club=the_club, pool=pool, actor=user, now=now)
        assert [p.id for p in service.club_pools(session, the_club, user)] == [pool.id]
    else:
        with pytest.raises(NotFound):
            service.attach_pool(session, club=the_club, pool=pool, actor=user, now=now)


def test_a_pool_belongs_to_one_club_at_most(session, now):
    organiser = factories.user(session, now=now)
    one, two = club(session, now=now, owner=organiser, slug="one"), club(session, now=now, owner=organiser, slug="two")
    pool = factories.open_pool(session, now=now, organiser=organiser)
    service.attach_pool(session, club=one, pool=pool, actor=organiser, now=now)
    with pytest.raises(Conflict):
        service.attach_pool(session, club=two, pool=pool, actor=organiser, now=now)


def test_members_only_pools_are_listed_to_club_members_only(session, now):
    organiser = factories.user(session, now=now)
    the_club = club(session, now=now, owner=organiser)
    hidden = factories.open_pool(session, now=now, organiser=organiser, visibility="club")
    public = factories.open_pool(session, now=now, organiser=organiser)
    for pool in (hidden, public):
        service.attach_pool(session, club=the_club, pool=pool, actor=organiser, now=now)
    assert {p.id for p in service.club_pools(session, the_club, organiser)} == {hidden.id, public.id}
    assert [p.id for p in service.club_pools(session, the_club, factories.user(session, now=now))] == [public.id]


# --- notifications and email ---------------------------------------------------------------------


def test_pool_members_and_the_organiser_are_notified_and_emailed_once(session, now):
    pool = factories.open_pool(session, now=now)
    members = [factories.commitment(session, pool=pool, now=now).member for _ in range(2)]
    gone = actor(session, pool=pool, role="withdrawn", now=now)
    assert service.notify_pool_members(session, pool, "pool_tipped", "It tipped!", now) == 3
    assert service.notify_pool_members(session, pool, "pool_tipped", "It tipped!", now) == 0
    emailed = session.scalars(select(Notification.user_id).where(Notification.email_due)).all()
    assert sorted(emailed) == sorted([m.id for m in members] + [pool.organiser.id])
    assert gone.id not in emailed
    assert count(session, Notification.id) == 3


def test_a_notification_email_names_the_pool_in_its_subject(session, now):
    pool = factories.open_pool(session, now=now, title="Heat pumps")
    member = factories.commitment(session, pool=pool, now=now).member
    service.notify_pool_members(session, pool, "awarded", "Awarded at £3.10.", now, include_organiser=False)
    session.commit()
    (claimed,) = mail.pending(session, now=now, limit=10)
    notification, message = claimed.notification, claimed.render()
    assert message.subject == "“Heat pumps” was awarded" and message.to_email == member.email
    assert "Awarded at £3.10." in message.body and notification.emailed_at is None


def test_fan_out_can_target_members_in_given_states(session, now):
    pool = factories.open_pool(session, now=now)
    factories.commitment(session, pool=pool, now=now)
    sent = service.notify_pool_members(session, pool, "charged", "Paid.", now, statuses=["charged"],
                                       include_organiser=False)  # fmt: skip
    assert sent == 0 and count(session, Notification.id) == 0


def test_one_user_can_be_told_about_feedback(session, now):
    pool = factories.open_pool(session, now=now)
    ratee = factories.user(session, now=now)
    assert service.notify_user(session, ratee.id, pool, "feedback_received", "You got feedback.", now)
    assert not service.notify_user(session, ratee.id, pool, "feedback_received", "You got feedback.", now)
    assert session.scalars(select(Notification.user_id).where(Notification.email_due)).all() == [ratee.id]


def test_an_unknown_notification_kind_is_a_programming_error(session, now):
    pool = factories.open_pool(session, now=now)
    with pytest.raises(ValueError, match="unknown notification kind"):
        service.notify_pool_members(session, pool, "party", "!", now)


def test_the_closing_soon_job_reminds_active_members_by_email(session, now):
    soon = factories.open_pool(session, now=now, closes_at=now + timedelta(hours=20))
    later = factories.open_pool(session, now=now)
    reminded = factories.commitment(session, pool=soon, now=now).member
    factories.commitment(session, pool=later, now=now)
    assert jobs.remind_closing_soon(session, {}, now=now) == 1
    assert jobs.remind_closing_soon(session, {}, now=now) == 0
    assert session.scalars(select(Notification.user_id).where(Notification.email_due)).all() == [reminded.id]


def test_marking_read_touches_only_the_callers_notifications(session, now):
    pool = factories.open_pool(session, now=now)
    mine, theirs = factories.commitment(session, pool=pool, now=now), factories.commitment(session, pool=pool, now=now)
    service.notify_pool_members(session, pool, "pool_tipped", "Tipped", now, include_organiser=False)
    other_id = session.scalar(select(Notification.id).where(Notification.user_id == theirs.member_id))
    assert service.mark_read(session, user=mine.member, now=now, notification_id=other_id) == 0
    assert service.mark_read(session, user=mine.member, now=now) == 1
    assert service.unread_count(session, mine.member) == 0 and service.unread_count(session, theirs.member) == 1
