#!/usr/bin/env bash
# Installs the pinned moto (the EC2 double the AWS tests run, test/support/moto.ts) into a venv
# under ~/.cache/petrel-moto once per machine, and prints that venv's python last. Quick when
# cached. The lighter extras are enough: moto[ec2] plus flask for its server.
set -euo pipefail
MOTO_VERSION=5.2.5
dir="${PETREL_MOTO_CACHE:-$HOME/.cache/petrel-moto}/moto-$MOTO_VERSION"
if [ ! -f "$dir/COMPLETE" ]; then
  echo "installing moto $MOTO_VERSION into $dir (about 20 s, once)" >&2
  rm -rf "$dir.tmp"
  python3 -m venv "$dir.tmp"
  "$dir.tmp/bin/pip" install -q --disable-pip-version-check "moto[ec2]==$MOTO_VERSION" flask flask-cors >&2
  # venvs record their path in scripts; the python binary itself is location-independent
  rm -rf "$dir"
  python3 -m venv "$dir" >/dev/null
  cp -a "$dir.tmp/lib/." "$dir/lib/"
  rm -rf "$dir.tmp"
  "$dir/bin/python" -c 'import moto, flask, flask_cors; assert moto.__version__ == "'"$MOTO_VERSION"'", moto.__version__' >&2
  touch "$dir/COMPLETE"
fi
echo "$dir/bin/python"
