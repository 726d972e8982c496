#!/bin/sh
# Create the Doccano 1.8.4 server virtualenv from the lock (scripts/doccano-server.lock).
#
#   scripts/doccano_install.sh [VENV_DIR]      (default: .doccano/venv, or $ANNOTATE_DOCCANO_VENV)
#
# Doccano is a separate program (like a database): it needs pydantic 2, our package needs
# pydantic 1, so it gets its own venv. About a minute and 700 MB. The marker file
# VENV_DIR/.annotate-installed (the lock's sha256) is written last, only after `pip check`
# passes: a venv without it is incomplete and is rebuilt from scratch.
# `annotate server up` runs this script (under a lock file) when the marker is missing or stale.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
lock="$here/doccano-server.lock"
venv=${1:-${ANNOTATE_DOCCANO_VENV:-$here/../.doccano/venv}}
python=${ANNOTATE_DOCCANO_PYTHON:-$(command -v python3.11 || command -v python3)}

if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ] && [ -n "$(ls -A "$venv" 2>/dev/null)" ]; then
    echo "refusing to replace $venv: it exists and is not a virtualenv" >&2
    exit 2
fi
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade "pip>=24"
"$venv/bin/python" -m pip install --quiet --no-deps -r "$lock"
"$venv/bin/python" -m pip check
"$venv/bin/python" -c "import backend.config, gunicorn, celery, django; assert django.VERSION[:2] == (4, 2)"
sha=$("$venv/bin/python" -c "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())" "$lock")
printf '%s\n' "$sha" > "$venv/.annotate-installed"
echo "doccano server venv ready: $venv"
