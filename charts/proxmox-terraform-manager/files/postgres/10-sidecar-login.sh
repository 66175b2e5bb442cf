#!/usr/bin/env bash
# The sidecar's read-only login, made once when the PostgreSQL volume is first initialised (the
# postgres image runs /docker-entrypoint-initdb.d/* then, as POSTGRES_USER).
#
# The sidecar only reads runs and run logs. The operator's migration 2 grants the role
# <schema>_reader SELECT on the runs schema (and nothing on the Terraform state schema or the
# errored states); it creates that role only if it does not exist yet, so making it here first
# is the same role the migration then grants to. The login is a member of it and nothing else.
#
# For a volume initialised before this script existed, run it by hand (it changes nothing that
# is already there):
#   docker compose -f compose/compose.yaml exec postgres bash /docker-entrypoint-initdb.d/10-sidecar-login.sh
set -euo pipefail

: "${PTM_SIDECAR_DB_PASSWORD:?set the password of the sidecar login (POSTGRES_SIDECAR_PASSWORD in compose/.env)}"
reader="${PTM_DB_SCHEMA:-ptm}_reader"
login="${PTM_SIDECAR_DB_USER:-ptm_sidecar}"

# psql variables (:'name') are quoted by psql itself; format(%I, %L) quotes them again as
# identifier and literal for the dynamic statement, so no value can break out of its place.
psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
  --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" \
  -v reader="$reader" -v login="$login" -v password="$PTM_SIDECAR_DB_PASSWORD" <<'SQL'
select format('create role %I nologin', :'reader')
  where not exists (select 1 from pg_roles where rolname = :'reader') \gexec
select format('create role %I login password %L in role %I', :'login', :'password', :'reader')
  where not exists (select 1 from pg_roles where rolname = :'login') \gexec
SQL
