"""gunicorn settings for Buyswarm: `gunicorn -c config/gunicorn.py wsgi:app` (flags given after override these).

Workers and the address come from the command line or GUNICORN_CMD_ARGS as usual.
"""

# The longest request line gunicorn reads (its maximum; the default is 4094). The app bounds every
# parameter itself and answers a bad one with a JSON 422; a longer line gets gunicorn's own 414 page.
limit_request_line = 8190
# Headers: gunicorn's defaults (100 fields of at most 8190 bytes). Bodies: MAX_CONTENT_LENGTH (413).


def on_starting(server):  # type: ignore[no-untyped-def]
    """Refuse to start several production workers that would count rate limits each on its own.

    config.load_config checks WEB_CONCURRENCY; this also catches `-w 4` on the command line.
    """
    import os

    storage = os.environ.get("RATELIMIT_STORAGE_URI") or os.environ.get("REDIS_URL") or "memory://"
    production = os.environ.get("BUYSWARM_ENV") == "production"
    if production and server.cfg.workers > 1 and storage.startswith("memory://"):
        raise SystemExit(
            f"{server.cfg.workers} workers with rate limits counted in memory would allow each limit "
            f"{server.cfg.workers} times: set REDIS_URL so every worker shares one count"
        )
