#!/usr/bin/env bash
# Set up the database (SQLite by default), add demo data once, then run the scheduler process
# and the web server side by side; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=wsgi
.venv/bin/flask db upgrade
.venv/bin/flask demo seed --if-empty
.venv/bin/flask scheduler run &
scheduler=$!
trap 'kill "$scheduler" 2>/dev/null || true' EXIT INT TERM
echo "Buyswarm is running on http://127.0.0.1:5000 (scheduler pid $scheduler; Ctrl-C stops both)"
.venv/bin/flask run --host 127.0.0.1 --port 5000
