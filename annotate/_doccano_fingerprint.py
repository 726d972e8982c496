"""Read Doccano projects straight from the database, by the SERVER's Python (not ours). Read-only.

``python _doccano_fingerprint.py fingerprint PROJECT_ID...`` prints one JSON object, the change
fingerprint::

    {"projects": {"12": {"examples": [...], "spans": [...], "relations": [...], "states": [...],
                         "span_types": [[id, text], ...], "relation_types": [[id, text], ...]}, ...},
     "users": [[id, username], ...]}

For each table that a pull reads (examples, spans, relations, example states) and each project, one
row of aggregates: count, sum(id), max(id), max(updated_at) (``confirmed_at`` for states), and the sum
of a per-row mix of the columns a pull reads (offsets, label, owner, ends of a relation, example,
text length). Why this is exact for Doccano 1.8.4:

* ids come from AUTOINCREMENT (SQLite) or a sequence (PostgreSQL) and are never reused, so any row
  created since (and still there) raises max(id), and any row deleted lowers count: the set of ids
  is the same only if nothing was created or deleted (delete + create of the same label included);
* every update Doccano makes goes through ``Model.save()`` (no ``QuerySet.update`` on these
  tables), which sets the ``auto_now`` column (``updated_at``, ``confirmed_at``) to now: max(updated_at)
  moves on any PATCH; the column mix catches an edit made behind Django's back as well;
* label types and users are few: listed in full (a renamed label or account changes the export).

``python _doccano_fingerprint.py dump PROJECT_ID...`` prints, inside ONE read transaction (repeatable
read on PostgreSQL, a WAL read snapshot on SQLite), the fingerprint line ``{"fingerprint": ...}``, then
one line per example in the form of Doccano's own JSONL export (``id``, ``text``, the ``annotate`` meta
key, ``entities`` [{id, start_offset, end_offset, label}], ``relations`` [{id, from_id, to_id, type}]),
plus ``project`` (its id), ``confirmed`` (any confirmation: the projects are collaborative) and each
entity's owner as ``user`` (its user id), then ``{"end": N}`` with the number of example lines (a
missing end line means the output was cut). The fingerprint and the lines describe the same state.
On SQLite it refuses (exit 3) unless the database is in WAL mode: in the rollback-journal mode a
read transaction this long would block every write meanwhile.

Stdlib and Doccano's own packages only: this file runs in the server virtualenv.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

MOD = 2147483647  # keeps every sum far inside 64 bits on SQLite and PostgreSQL


def _setup() -> None:
    import backend  # the Doccano package in the server venv

    sys.path.insert(0, str(Path(backend.__file__).resolve().parent))
    os.environ.setdefault("STANDALONE", "True")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    import django

    django.setup()


def _mix(*columns: str) -> str:
    """SQL: a per-row number from integer columns (bigint arithmetic, bounded)."""
    terms = [f"CAST({c} AS BIGINT) * {p}" for c, p in zip(columns, (1, 1000003, 7919, 104729, 15485863, 49979687))]
    return f"SUM(({' + '.join(terms)}) %% {MOD})"  # %% : the driver's escape of %


def _aggregate(cursor, table: str, alias: str, stamp: str, mix: str, join: str, ids: list[int]) -> dict[int, list]:
    marks = ", ".join(["%s"] * len(ids))
    cursor.execute(
        f"SELECT e.project_id, COUNT(*), SUM({alias}.id), MAX({alias}.id), MAX({alias}.{stamp}), {mix} "
        f"FROM {table} {alias} {join} WHERE e.project_id IN ({marks}) GROUP BY e.project_id", ids)
    return {row[0]: [str(v) for v in row[1:]] for row in cursor.fetchall()}


def fingerprint(ids: list[int]) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from examples.models import Example, ExampleState
    from label_types.models import RelationType, SpanType
    from labels.models import Relation, Span

    q = connection.ops.quote_name
    ex = q(Example._meta.db_table)
    on_example = f"JOIN {ex} e ON e.id = {{a}}.example_id"
    with connection.cursor() as cursor:
        tables = {
            "examples": _aggregate(cursor, ex, "e", "updated_at", _mix("e.id", "COALESCE(LENGTH(e.text), 0)"), "", ids),
            "spans": _aggregate(cursor, q(Span._meta.db_table), "s", "updated_at",
                                _mix("s.id", "s.example_id", "s.label_id", "s.start_offset", "s.end_offset",
                                     "s.user_id"), on_example.format(a="s"), ids),
            "relations": _aggregate(cursor, q(Relation._meta.db_table), "r", "updated_at",
                                    _mix("r.id", "r.example_id", "r.from_id_id", "r.to_id_id", "r.type_id",
                                         "r.user_id"), on_example.format(a="r"), ids),
            "states": _aggregate(cursor, q(ExampleState._meta.db_table), "t", "confirmed_at",
                                 _mix("t.id", "t.example_id", "t.confirmed_by_id"), on_example.format(a="t"), ids),
        }
    projects: dict[str, dict] = {}
    for pid in ids:
        fp = {name: rows.get(pid, ["0", "None", "None", "None", "None"]) for name, rows in tables.items()}
        fp["span_types"] = list(SpanType.objects.filter(project_id=pid).order_by("id").values_list("id", "text"))
        fp["relation_types"] = list(RelationType.objects.filter(project_id=pid).order_by("id")
                                    .values_list("id", "text"))
        projects[str(pid)] = fp
    users = list(get_user_model().objects.order_by("id").values_list("id", "username"))
    return {"projects": projects, "users": users}


META_KEY = "annotate"


def dump(ids: list[int], out) -> None:
    from django.db import connection, transaction

    from examples.models import Example, ExampleState
    from label_types.models import RelationType, SpanType
    from labels.models import Relation, Span

    q = connection.ops.quote_name
    ex = q(Example._meta.db_table)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":  # a long read transaction would block the annotators' writes: the caller exports
            print(f"SQLite journal mode {mode}, not wal: no long read transaction here", file=sys.stderr)
            sys.exit(3)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        out.write(json.dumps({"fingerprint": fingerprint(ids)}) + "\n")
        n = 0
        for pid in ids:
            spans: dict[int, list] = {}
            relations: dict[int, list] = {}
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT s.example_id, s.id, s.start_offset, s.end_offset, t.text, s.user_id "
                    f"FROM {q(Span._meta.db_table)} s JOIN {ex} e ON e.id = s.example_id "
                    f"JOIN {q(SpanType._meta.db_table)} t ON t.id = s.label_id WHERE e.project_id = %s", [pid])
                for eid, sid, start, end, label, user in cursor.fetchall():
                    spans.setdefault(eid, []).append({"id": sid, "label": label, "start_offset": start,
                                                      "end_offset": end, "user": user})
                cursor.execute(
                    f"SELECT r.example_id, r.id, r.from_id_id, r.to_id_id, t.text "
                    f"FROM {q(Relation._meta.db_table)} r JOIN {ex} e ON e.id = r.example_id "
                    f"JOIN {q(RelationType._meta.db_table)} t ON t.id = r.type_id WHERE e.project_id = %s", [pid])
                for eid, rid, head, tail, rtype in cursor.fetchall():
                    relations.setdefault(eid, []).append({"id": rid, "from_id": head, "to_id": tail, "type": rtype})
                cursor.execute(f"SELECT DISTINCT t.example_id FROM {q(ExampleState._meta.db_table)} t "
                               f"JOIN {ex} e ON e.id = t.example_id WHERE e.project_id = %s", [pid])
                confirmed = {row[0] for row in cursor.fetchall()}
            rows = Example.objects.filter(project_id=pid).order_by("id").values_list("id", "text", "meta")
            for eid, text, meta in rows.iterator(chunk_size=2000):
                line = {"project": pid, "id": eid, "text": text,
                        META_KEY: meta.get(META_KEY) if isinstance(meta, dict) else None,
                        "entities": sorted(spans.get(eid, []), key=lambda e: e["id"]),
                        "relations": sorted(relations.get(eid, []), key=lambda r: r["id"]),
                        "confirmed": eid in confirmed}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                n += 1
    out.write(json.dumps({"end": n}) + "\n")
    out.flush()


def main(argv: list[str]) -> int:
    mode, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        ids = [int(a) for a in args]
    except ValueError:
        print(f"project ids must be integers: {args}", file=sys.stderr)
        return 2
    if mode not in ("fingerprint", "dump") or not ids:
        print("usage: _doccano_fingerprint.py fingerprint|dump PROJECT_ID...", file=sys.stderr)
        return 2
    _setup()
    if mode == "fingerprint":
        print(json.dumps(fingerprint(ids)))
    else:
        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n", write_through=False)
        dump(ids, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
