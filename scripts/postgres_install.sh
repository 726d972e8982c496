#!/bin/sh
# Install Debian's PostgreSQL programs when they are missing (for `annotate server up --db postgres`).
#
#   scripts/postgres_install.sh
#
# Runs `apt-get update` once and `apt-get install -y postgresql`, non-interactively (CI has no
# standard input). Needs root (or sudo without a password). The cluster the project uses is NOT
# Debian's system cluster: `annotate server up --db postgres` creates a private one in its state dir
# (see annotate/pgcluster.py). Elsewhere (macOS: `brew install postgresql`) install PostgreSQL
# yourself, or set ANNOTATE_PG_BINDIR to the folder holding initdb and postgres.
set -eu
if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "PostgreSQL is installed: $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get here: install PostgreSQL yourself and set ANNOTATE_PG_BINDIR (the folder of initdb)" >&2
    exit 2
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "installing PostgreSQL needs root: run  sudo apt-get install -y postgresql  once" >&2
        exit 2
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
ls -d /usr/lib/postgresql/*/bin/postgres >/dev/null
echo "PostgreSQL installed: $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
