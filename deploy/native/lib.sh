# shellcheck shell=bash
# Shared by the deploy/native scripts (sourced, not run).
# The versions come from docker-compose.yml's defaults so compose and the native stack cannot
# drift; the same environment variables override both.
native_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "$native_dir/../.." && pwd)"
compose_file="$repo_dir/docker-compose.yml"

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# compose_default NAME: the default in the first ${NAME:-default} of docker-compose.yml.
compose_default() {
  local value
  value=$(sed -n "s/.*\${$1:-\([^}]*\)}.*/\1/p" "$compose_file" | head -1)
  [ -n "$value" ] || die "docker-compose.yml has no \${$1:-...} default"
  printf '%s\n' "$value"
}

TEMPORAL_VERSION=${TEMPORAL_VERSION:-$(compose_default TEMPORAL_VERSION)}
TEMPORAL_UI_VERSION=${TEMPORAL_UI_VERSION:-$(compose_default TEMPORAL_UI_VERSION)}
