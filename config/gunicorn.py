"""gunicorn settings for Buyswarm: `gunicorn -c config/gunicorn.py wsgi:app` (flags given after override these).

Workers and the address come from the command line or GUNICORN_CMD_ARGS as usual.
"""

# The longest request line gunicorn reads (its maximum; the default is 4094). The app bounds every
# parameter itself and answers a bad one with a JSON 422; a longer line gets gunicorn's 414, as JSON
# (post_worker_init below), like every other error of the API.
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


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Answer the errors gunicorn raises itself (a request line or headers too large, a malformed
    request) with the API's JSON error body, not an HTML page: clients and the OpenAPI contract
    expect `{"code", "message", "errors"}` whatever refused the request."""
    import json

    from gunicorn import util

    def write_json_error(sock, status_int, reason, mesg):  # type: ignore[no-untyped-def]
        code = reason.lower().replace(" ", "_")
        body = json.dumps({"code": code, "message": f"{reason}. {mesg}".strip(), "errors": {}}).encode()
        head = (
            f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin1")
        util.write_nonblock(sock, head + body)

    util.write_error = write_json_error
