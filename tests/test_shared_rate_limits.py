"""Rate limits hold across processes: two servers sharing Redis allow the limit once, not twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import ConfigError, load_config
from tests import redis_server
from tests.net import free_ports, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = {"SECRET_KEY": "x" * 40, "DATABASE_URL": "postgresql://localhost/buyswarm", "TRUSTED_HOSTS": "b.example"}


def test_production_refuses_per_process_limits_with_several_workers():
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load_config("production", PRODUCTION | {"WEB_CONCURRENCY": "4"})
    shared = load_config("production", PRODUCTION | {"WEB_CONCURRENCY": "4", "REDIS_URL": "redis://cache:6379/0"})
    assert shared["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/0"
    assert load_config("production", PRODUCTION)["RATELIMIT_STORAGE_URI"] == "memory://"  # one worker: fine


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[list[str]]:
    """Two app processes on one database, counting limits in one Redis, at 5 logins a minute."""
    redis = redis_server.start()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "BUYSWARM_ENV": "development",
        "SECRET_KEY": "shared-limits",
        "REDIS_URL": redis.url,
        "RATELIMIT_ENABLED": "true",
        "RATELIMIT_LOGIN": "5 per minute",
    }
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    servers, urls = [], []
    try:
        for port in free_ports(2):
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--port", str(port), "--host", "127.0.0.1",
                 "--no-reload"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            wait_until_up(url)
        yield urls
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
        redis.stop()


def test_a_brute_force_spread_over_two_processes_is_limited_at_the_configured_total(two_servers):
    statuses = [_token_attempt(two_servers[n % 2]) for n in range(8)]  # alternating between the processes
    assert statuses[:5] == [401] * 5, statuses  # wrong passwords, answered
    assert statuses[5:] == [429] * 3, statuses  # the 6th attempt in the minute, whichever process gets it


def _token_attempt(url: str) -> int:
    body = json.dumps({"email": "nobody@example.com", "password": "wrong password"}).encode()
    request = urllib.request.Request(url + "/api/v1/tokens", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_gunicorn_refuses_several_production_workers_without_shared_limits():
    env = {**os.environ, **PRODUCTION, "BUYSWARM_ENV": "production"}
    env.pop("REDIS_URL", None)
    env.pop("RATELIMIT_STORAGE_URI", None)
    (port,) = free_ports(1)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", "config/gunicorn.py", "-w", "2", "-b",
         f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and "set REDIS_URL" in done.stderr + done.stdout


def test_gunicorn_refuses_an_over_long_request_line_with_the_apis_json_error(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'long.sqlite3'}", "BUYSWARM_ENV": "development"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    (port,) = free_ports(1)
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", "config/gunicorn.py", "-w", "1", "-b",
         f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url)
        try:
            urllib.request.urlopen(f"{url}/api/v1/pools?q={'x' * 9000}", timeout=10)
        except urllib.error.HTTPError as refused:
            assert refused.code == 414 and refused.headers["Content-Type"] == "application/json"
            assert json.loads(refused.read())["code"] == "uri_too_long"
        else:
            raise AssertionError("a 9,000-character request line was accepted")
    finally:
        server.terminate()
        server.wait(timeout=10)
