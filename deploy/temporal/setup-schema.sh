#!/bin/sh
# One-shot job of docker-compose.yml (service temporal-schema, image temporalio/admin-tools).
# Creates Temporal's two Postgres databases and migrates them to the schema version this
# admin-tools image ships. Safe to run on every `docker compose up`. An existing database is
# kept, setup-schema does nothing once the schema is past 0.0, and update-schema applies only
# newer versions. That is also how an upgrade of TEMPORAL_VERSION migrates the schema.
#
# Connection settings come from the environment, which temporal-sql-tool reads itself:
# SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD (kept off the command line).
set -eu

: "${SQL_HOST:?SQL_HOST is not set}"
: "${SQL_USER:?SQL_USER is not set}"
: "${SQL_PASSWORD:?SQL_PASSWORD is not set}"
export SQL_PLUGIN="${SQL_PLUGIN:-postgres12}"
export SQL_PORT="${SQL_PORT:-5432}"
temporal_db="${TEMPORAL_DB:-temporal}"
visibility_db="${TEMPORAL_VISIBILITY_DB:-temporal_visibility}"
# Where the admin-tools image keeps the versioned schema of its TEMPORAL_VERSION;
# deploy/native/up.sh points this at the same files from the server's Go module.
schema_root="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema}/postgresql/v12"

# depends_on already waits for Postgres to be healthy. The retry covers a Postgres that is
# still restarting. create is idempotent, so migrate() repeating it is harmless.
tries=0
until temporal-sql-tool --db "$temporal_db" create; do
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then
    echo "temporal-schema: cannot reach Postgres at $SQL_HOST:$SQL_PORT; giving up" >&2
    exit 1
  fi
  sleep 2
done

migrate() { # database, schema directory under $schema_root
  echo "temporal-schema: database $1"
  temporal-sql-tool --db "$1" create
  temporal-sql-tool --db "$1" setup-schema -v 0.0
  temporal-sql-tool --db "$1" update-schema -d "$schema_root/$2/versioned"
}

migrate "$temporal_db" temporal
migrate "$visibility_db" visibility
echo "temporal-schema: done"
