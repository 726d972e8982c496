"""Database chores run by the Doccano SERVER's Python (not ours): ``python _doccano_admin.py STEP...``.

Steps, in the order given:

* ``init``  - ``migrate`` and ``create_roles`` (what ``doccano init`` does), output captured; on SQLite
  also the journal mode, which is stored in the database file: WAL (readers never block the
  writer, and a writer waits for another instead of failing at once), unless the environment
  says ``ANNOTATE_SQLITE_WAL=0`` (SQLite's default rollback journal, for comparison).
* ``users`` - create or update the accounts listed as JSON in the environment variable
  ``ANNOTATE_DOCCANO_USERS``: ``[{"username": ..., "password": ..., "staff": bool}, ...]``.
  Passwords travel through the environment of this short-lived process, never through argv.

Prints one JSON object on stdout: ``{"created": [names], "updated": [names]}``.
Standard library and Doccano's own packages only: this file runs in the server virtualenv,
which has neither our package nor its dependencies.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path


def _setup() -> None:
    import backend  # the Doccano package in the server venv

    sys.path.insert(0, str(Path(backend.__file__).resolve().parent))
    os.environ.setdefault("STANDALONE", "True")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    import django

    django.setup()


def _init() -> None:
    from django.core import management

    sink = io.StringIO()
    management.call_command("migrate", interactive=False, stdout=sink)
    management.call_command("create_roles", stdout=sink)
    from django.db import connection

    if connection.vendor == "sqlite":
        mode = "delete" if os.environ.get("ANNOTATE_SQLITE_WAL") == "0" else "wal"
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA journal_mode={mode}")
            got = cursor.fetchone()[0]
        if got != mode:
            raise RuntimeError(f"SQLite journal mode {mode} was not applied (still {got})")


def _users(result: dict) -> None:
    from django.contrib.auth import get_user_model

    wanted = json.loads(os.environ.get("ANNOTATE_DOCCANO_USERS", "[]"))
    User = get_user_model()
    for spec in wanted:
        user, created = User.objects.get_or_create(username=spec["username"])
        staff = bool(spec.get("staff"))
        user.is_staff = user.is_superuser = staff
        user.is_active = True
        user.set_password(spec["password"])
        user.save()
        result["created" if created else "updated"].append(spec["username"])


def main(steps: list[str]) -> int:
    unknown = set(steps) - {"init", "users"}
    if unknown:
        print(f"unknown step(s): {sorted(unknown)}", file=sys.stderr)
        return 2
    _setup()
    result: dict = {"created": [], "updated": []}
    for step in steps:
        if step == "init":
            _init()
        else:
            _users(result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
