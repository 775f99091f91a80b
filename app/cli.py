"""Operator commands (`flask --app wsgi GROUP COMMAND`): users, pools, demo, scheduler, outbox, reputation.

Each command calls the same service or sweeper as the web and the scheduler, so it is safe to run
while the scheduler runs: the work is claimed under row locks and every step is idempotent.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app import unit_of_work
from app.accounts import service as accounts
from app.clock import utcnow
from app.errors import DomainError
from app.reputation.scores import price_factors
from app.web.extensions import db

users_cli = AppGroup("users", help="Manage user accounts.")
pools_cli = AppGroup("pools", help="Operate on pools (safe to run while the scheduler runs).")
demo_cli = AppGroup("demo", help="Demo data.")
scheduler_cli = AppGroup("scheduler", help="The scheduler process.")
outbox_cli = AppGroup("outbox", help="The email outbox.")
reputation_cli = AppGroup("reputation", help="Reputation scores.")


@reputation_cli.command("recompute")
def reputation_recompute() -> None:
    """Rebuild every score from all revealed feedback, as the scheduler's nightly job does."""
    from app.scheduler.jobs import recompute_reputation

    started = utcnow()
    count = recompute_reputation(db.session(), {}, now=started)
    click.echo(f"Recomputed {count} score(s) in {(utcnow() - started).total_seconds():.1f} s.")


@outbox_cli.command("send")
def outbox_send() -> None:
    """Send the due emails now, as the scheduler's outbox job does every 30 s."""
    from flask import current_app

    from app.social.jobs import send_outbox

    sent = send_outbox(db.session(), current_app.config, now=utcnow())
    click.echo(f"{sent} email(s) sent.")


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Run the scheduler in this process (close pools, settle, release escrow, send reminders)."""
    from flask import current_app

    from app.scheduler.runner import run

    run(current_app._get_current_object())  # type: ignore[attr-defined]


@users_cli.command("create-admin")
@click.option("--email", required=True)
@click.option("--display-name", default="Operator", show_default=True)
@click.password_option()
def create_admin(email: str, display_name: str, password: str) -> None:
    """Create an operator account (or make an existing account an operator)."""
    user = accounts.find_user_by_email(db.session(), email)
    try:
        if user is None:
            user = accounts.create_confirmed_account(
                db.session(), email=email, password=password, display_name=display_name, now=utcnow()
            )
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    user.is_admin = True
    unit_of_work.commit(db.session())
    click.echo(f"{user.email} is an operator (user {user.id}).")


@users_cli.command("grant-disputes")
@click.option("--email", required=True)
@click.option("--revoke", is_flag=True, help="Take the role away instead.")
def grant_disputes(email: str, revoke: bool) -> None:
    """Make an account a dispute operator: it decides escalated disputes at /admin/disputes."""
    user = accounts.find_user_by_email(db.session(), email)
    if user is None:
        raise click.ClickException(f"No account with the email {email}.")
    user.is_dispute_operator = not revoke
    unit_of_work.commit(db.session())
    click.echo(f"{user.email} {'is no longer' if revoke else 'is now'} a dispute operator (user {user.id}).")


@demo_cli.command("seed")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def seed(if_empty: bool) -> None:
    """Fill the database with realistic demo pools, members and vendors."""
    from flask import current_app

    from app.demo import seed_demo

    key = current_app.config["IDENTITY_KEY"].encode()
    report = seed_demo(db.session(), now=utcnow(), identity_key=key, if_empty=if_empty)
    unit_of_work.commit(db.session())
    click.echo(report)


@pools_cli.command("close-due")
@click.option("--limit", default=500, show_default=True, help="Most pools to close in this run.")
def close_due(limit: int) -> None:
    """Close and clear every open pool whose deadline has passed (as the scheduler does every 15 s).

    Each pool is awarded to the bids its clearing chooses, or fails; members are told. Pools are
    committed in batches of 20; a pool that fails 3 sweeps is left for `pools attention`.
    """
    from app.bids.jobs import close_due_pools

    click.echo(
        f"Closed {close_due_pools(db.session(), now=utcnow(), limit=limit, price_factors=price_factors)} pool(s)."
    )


@pools_cli.command("settle")
def settle() -> None:
    """Charge awarded pools, make decided refunds and pay vendors their released lines.

    Charging puts each served member's payment in escrow, held per line until the member confirms
    delivery or the dispute window ends (see `pools release`); nothing is paid to a vendor here
    except lines already released. Each call to the payment provider is leased and committed first,
    then its outcome is recorded and committed, under one idempotency key, so re-running it after a
    crash charges, refunds or pays nobody twice. It runs the scheduler's settle-pools job once.
    """
    from flask import current_app

    from app.scheduler.jobs import settle_everything

    counts = settle_everything(db.session(), current_app.config, now=utcnow())
    click.echo(", ".join(f"{what}: {count}" for what, count in counts.items()))


@pools_cli.command("release")
def release() -> None:
    """Release lines whose dispute window passed, escalate disputes that are due, and pay vendors
    their released lines in batches (as the scheduler's release-escrow job does every 5 minutes)."""
    from flask import current_app

    from app.scheduler.jobs import release_escrow

    click.echo(f"Released {release_escrow(db.session(), current_app.config, now=utcnow())} line(s).")


@pools_cli.command("show")
@click.argument("pool_id", type=int)
def show(pool_id: int) -> None:
    """Print a pool's state, demand and award."""
    from app.bids.service import award_of, winners_of
    from app.money import format_minor
    from app.pools.models import Pool

    pool = db.session.get(Pool, pool_id)
    if pool is None:
        raise click.ClickException(f"No pool {pool_id}.")
    click.echo(f"Pool {pool.id}: {pool.title}\n  status: {pool.status}  closes_at: {pool.closes_at.isoformat()}")
    click.echo(f"  demand: {pool.committed_quantity}/{pool.min_quantity} {pool.unit} from {pool.member_count} members")
    if pool.outcome_note:
        click.echo(f"  outcome: {pool.outcome_note}")
    if pool.attention_note:
        click.echo(f"  NEEDS ATTENTION: {pool.attention_note} (then: flask pools retry {pool.id})")
    award = award_of(db.session(), pool.id)
    _show_money(pool.id, pool.currency)
    if award is not None:
        click.echo(
            f"  award ({pool.award_mode}): {award.unit_price} per {pool.unit}, "
            f"{award.served_quantity} served, total {format_minor(award.total_minor, pool.currency)}"
        )
        for winner in winners_of(award):
            click.echo(
                f"    bid {winner.bid_id} by vendor {winner.vendor_id}: {winner.quantity} {pool.unit}, "
                f"{format_minor(winner.total_minor, pool.currency)}"
            )


@pools_cli.command("attention")
def attention() -> None:
    """List the pools the scheduler stopped trying to close, with the reason."""
    from app.pools import service

    pools = service.pools_needing_attention(db.session())
    for pool in pools:
        click.echo(f"{pool.id}\t{pool.status}\t{pool.title}\n\t{pool.attention_note}")
    click.echo(f"{len(pools)} pool(s) need attention.")


@pools_cli.command("retry")
@click.argument("pool_id", type=int)
def retry(pool_id: int) -> None:
    """Let the scheduler try again to close a pool that needed attention (after fixing the cause)."""
    from app.clock import utcnow
    from app.pools import service

    service.retry_closing(db.session(), pool_id=pool_id, now=utcnow())
    unit_of_work.commit(db.session())
    click.echo(f"Pool {pool_id} is back with the scheduler; its next sweep closes it.")


def _show_money(pool_id: int, currency: str) -> None:
    from app.money import format_minor
    from app.payments import ledger, service

    by_status: dict[str, int] = {}
    for payment in service.payments_of(db.session(), pool_id):
        by_status[payment.status] = by_status.get(payment.status, 0) + 1
    if by_status:
        click.echo("  payments: " + ", ".join(f"{n} {status}" for status, n in sorted(by_status.items())))
    statement = ledger.statement(db.session(), pool_id)
    for account, amount in sorted(statement.balances.items()):
        click.echo(f"  ledger {account}: {format_minor(amount, currency)}")
    if statement.entries:
        click.echo(f"  ledger total: {statement.total} (always 0)")


def register_cli(app: Flask) -> None:
    """Attach the command groups to the app."""
    app.cli.add_command(users_cli)
    app.cli.add_command(pools_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(reputation_cli)
