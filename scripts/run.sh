#!/usr/bin/env bash
# Set up the database (SQLite by default), add demo data once, then serve the web app.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=wsgi
.venv/bin/flask db upgrade
.venv/bin/flask demo seed --if-empty
echo "Buyswarm is running on http://127.0.0.1:5000 (Ctrl-C stops it)"
exec .venv/bin/flask run --host 127.0.0.1 --port 5000
