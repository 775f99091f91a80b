#!/usr/bin/env bash
# Back up the PostgreSQL database to one file: scripts/backup.sh FILE (DATABASE_URL names the database).
# A custom-format pg_dump: consistent (one snapshot, while the app runs), compressed, restorable
# table by table. Restore it with scripts/restore.sh (docs/deploy.md, "Backups and restore").
set -euo pipefail
file=${1:?usage: scripts/backup.sh FILE}
url=${DATABASE_URL:?set DATABASE_URL to the database to back up}
url=${url/postgresql+psycopg:\/\//postgresql:\/\/}  # SQLAlchemy's driver name means nothing to libpq
url=${url/postgres:\/\//postgresql:\/\/}
pg_dump --format=custom --no-owner --no-privileges --file "$file" "$url"
echo "backed up to $file ($(du -h "$file" | cut -f1))"
