#!/usr/bin/env bash
# Builds the Temporal server, its SQL schema tool and the standalone UI server from the Go
# module proxy with plain `go install`, at the versions docker-compose.yml pins (its
# TEMPORAL_VERSION / TEMPORAL_UI_VERSION defaults, or the same variables from the environment).
# About 5 minutes cold on two cores; cached under ~/.cache/petrel-temporal-native/<versions>/,
# and the script returns at once when the binaries are there. Prints the bin directory last.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=deploy/native/lib.sh
. "$here/lib.sh"

CACHE=${PETREL_TEMPORAL_NATIVE_CACHE:-$HOME/.cache/petrel-temporal-native}
BIN="$CACHE/server-$TEMPORAL_VERSION-ui-$TEMPORAL_UI_VERSION"
# Static, stripped binaries like the release images: no C compiler needed.
export PATH=$PATH:/usr/local/go/bin GOTOOLCHAIN=local CGO_ENABLED=0

if [ -f "$BIN/COMPLETE" ]; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || die "Go is needed to build Temporal $TEMPORAL_VERSION (install Go >= 1.24, or put it on PATH)"

# One build at a time: several test files or scripts may ask at once.
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ -f "$BIN/COMPLETE" ]; then echo "$BIN"; exit 0; fi

started=$(date +%s)
say() { echo "[temporal native build] $* ($(( $(date +%s) - started )) s)" >&2; }
work=$(mktemp -d "$CACHE/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
say "building temporal-server and temporal-sql-tool $TEMPORAL_VERSION (about 5 minutes the first time)"
GOBIN="$work/server" go install -trimpath -ldflags='-s -w' \
  "go.temporal.io/server/cmd/server@v$TEMPORAL_VERSION" \
  "go.temporal.io/server/cmd/tools/sql@v$TEMPORAL_VERSION"
say "building temporal-ui-server $TEMPORAL_UI_VERSION"
GOBIN="$work/ui" go install -trimpath -ldflags='-s -w' \
  "github.com/temporalio/ui-server/v2/cmd/server@v$TEMPORAL_UI_VERSION"
# The UI image starts from the module's config/docker.yaml; keep the same template.
uimod=$(go mod download -json "github.com/temporalio/ui-server/v2@v$TEMPORAL_UI_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
[ -f "$uimod/config/docker.yaml" ] || die "no config/docker.yaml in the ui-server module at $uimod"

# The versioned SQL schema of this server version, which the admin-tools image ships as
# /etc/temporal/schema: deploy/temporal/setup-schema.sh migrates from it.
srvmod=$(go mod download -json "go.temporal.io/server@v$TEMPORAL_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
[ -d "$srvmod/schema/postgresql/v12/temporal/versioned" ] || die "no schema/postgresql/v12 in the server module at $srvmod"

# go install names each binary after its package directory: server, sql, server.
mkdir -p "$work/out"
install -m 755 "$work/server/server" "$work/out/temporal-server"
install -m 755 "$work/server/sql" "$work/out/temporal-sql-tool"
install -m 755 "$work/ui/server" "$work/out/temporal-ui-server"
install -m 644 "$uimod/config/docker.yaml" "$work/out/ui-docker.yaml"
mkdir -p "$work/out/schema"
cp -r "$srvmod/schema/postgresql" "$work/out/schema/"
chmod -R u+w,a+rX "$work/out/schema"
rm -rf "$BIN"
mv "$work/out" "$BIN"
echo "temporal-server $TEMPORAL_VERSION, temporal-ui-server $TEMPORAL_UI_VERSION" > "$BIN/COMPLETE"
say "done: $BIN"
echo "$BIN"
