"""Security headers on every response, and URLs built only from trusted host names."""

from __future__ import annotations

import re

import pytest

from app.web import create_app
from config import ConfigError, load_config
from tests import factories


@pytest.mark.parametrize(
    "path", ["/", "/login", "/api/v1/pools", "/api/v1/openapi.json", "/no-such-page", "/static/live.js"]
)
def test_every_response_carries_the_security_headers(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "'unsafe-inline'" not in re.search(r"script-src[^;]*", csp).group(0)
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_no_page_has_inline_script(client, session, now):
    pool = factories.open_pool(session, now=now)
    for path in ("/", "/pools", f"/pools/{pool.id}", "/login", "/register"):
        page = client.get(path).get_data(as_text=True)
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S)
        assert all(body.strip() == "" for body in scripts), path
        assert not re.search(r"\son[a-z]+\s*=", page), f"an inline event handler on {path}"
        assert "<title>" in page and "<script" not in page.split("<title>")[1].split("</title>")[0]


def test_a_host_outside_trusted_hosts_is_refused(database_url):
    app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url,
                      "TRUSTED_HOSTS": ["buyswarm.example"]})  # fmt: skip
    client = app.test_client()
    assert client.get("/login", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/login", headers={"Host": "buyswarm.example"}).status_code == 200


def test_production_needs_trusted_hosts():
    env = {"SECRET_KEY": "x" * 40, "DATABASE_URL": "postgresql://localhost/buyswarm"}
    with pytest.raises(ConfigError, match="TRUSTED_HOSTS"):
        load_config("production", env)
    assert load_config("production", env | {"TRUSTED_HOSTS": "buyswarm.example, www.buyswarm.example"})[
        "TRUSTED_HOSTS"
    ] == ["buyswarm.example", "www.buyswarm.example"]
