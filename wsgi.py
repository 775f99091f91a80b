"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from app.web import create_app

app = create_app()
