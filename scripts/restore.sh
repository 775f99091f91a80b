#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into DATABASE_URL's database, replacing what is there,
# then bring its schema to the code's migrations: scripts/restore.sh FILE. Stop the web servers and
# schedulers first (docs/deploy.md, "Backups and restore").
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:?usage: scripts/restore.sh FILE}
url=${DATABASE_URL:?set DATABASE_URL to the database to restore into}
libpq=${url/postgresql+psycopg:\/\//postgresql:\/\/}
libpq=${libpq/postgres:\/\//postgresql:\/\/}
pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error --dbname "$libpq" "$file"
python=${PYTHON:-.venv/bin/python}
"$python" -m flask --app wsgi db upgrade  # a backup from older code is brought up to this code's schema
echo "restored $file"
