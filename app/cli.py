"""Operator commands: `flask --app wsgi users create-admin`, `demo seed`."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.accounts import service as accounts
from app.clock import utcnow
from app.errors import DomainError
from app.extensions import db

users_cli = AppGroup("users", help="Manage user accounts.")
demo_cli = AppGroup("demo", help="Demo data.")


@users_cli.command("create-admin")
@click.option("--email", required=True)
@click.option("--display-name", default="Operator", show_default=True)
@click.password_option()
def create_admin(email: str, display_name: str, password: str) -> None:
    """Create an operator account (or make an existing account an operator)."""
    user = accounts.find_user_by_email(db.session(), email)
    try:
        if user is None:
            user = accounts.register(
                db.session(), email=email, password=password, display_name=display_name, now=utcnow()
            )
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    user.is_admin = True
    db.session.commit()
    click.echo(f"{user.email} is an operator (user {user.id}).")


@demo_cli.command("seed")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def seed(if_empty: bool) -> None:
    """Fill the database with realistic demo pools, members and vendors."""
    from app.demo import seed_demo

    report = seed_demo(db.session(), now=utcnow(), if_empty=if_empty)
    db.session.commit()
    click.echo(report)


def register_cli(app: Flask) -> None:
    """Attach the command groups to the app."""
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
