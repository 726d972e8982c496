#!/bin/sh
# Create the Doccano 1.8.4 server virtualenv from the lock (scripts/doccano-server.lock).
#
#   scripts/doccano_install.sh [VENV_DIR]      (default: .doccano/venv, or $ANNOTATE_DOCCANO_VENV)
#
# Doccano is a separate program (like a database): it needs pydantic 2, our package needs
# pydantic 1, so it gets its own venv. About a minute and 700 MB. The marker file
# VENV_DIR/.annotate-installed (the lock's sha256) is written last, only after `pip check`
# passes: a venv without it is incomplete and is rebuilt from scratch. A venv complete from an
# earlier lock is synced in place (installs what changed, removes what the lock no longer lists).
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
if [ -f "$venv/.annotate-installed" ] && [ -x "$venv/bin/python" ]; then
    # A complete venv from an earlier lock: sync it in place, so servers running from it keep working
    # (a rebuild would delete the files under them). The marker goes first: an interrupted sync is rebuilt.
    rm -f "$venv/.annotate-installed"
    "$venv/bin/python" -m pip install --quiet --no-deps -r "$lock"
    extra=$("$venv/bin/python" - "$lock" <<'PY'
import re, subprocess, sys
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
locked = {norm(l.split("==")[0]) for l in open(sys.argv[1]) if "==" in l and not l.startswith("#")}
frozen = subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
print(" ".join(n for n in (l.split("==")[0] for l in frozen.splitlines() if "==" in l) if norm(n) not in locked))
PY
)
    if [ -n "$extra" ]; then
        # shellcheck disable=SC2086
        "$venv/bin/python" -m pip uninstall --quiet -y $extra
    fi
else
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade "pip>=24"
    "$venv/bin/python" -m pip install --quiet --no-deps -r "$lock"
fi
"$venv/bin/python" -m pip check
"$venv/bin/python" -c "import backend.config, gunicorn, celery, django, psycopg2; assert django.VERSION[:2] == (4, 2)"
sha=$("$venv/bin/python" -c "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())" "$lock")
printf '%s\n' "$sha" > "$venv/.annotate-installed"
echo "doccano server venv ready: $venv"
