"""Push documents to Doccano and pull every annotator's labels back: the only module that talks to its API.

Design (independent annotation with visible, editable pre-annotations): ``push --project NAME
--annotators a,b`` makes one Doccano project per annotator, ``NAME · a`` and ``NAME · b``, each
collaborative, with the annotator as its only ``annotator`` member. The admin imports the documents
with the pre-annotations as spans it owns; inside ``NAME · a`` the annotator sees them, may keep,
relabel or delete them, and adds their own. Annotators never see each other's work. Without
``--annotators`` a single project ``NAME`` is made.

Offsets: inside the tool, code points (Python ``str`` indices); Doccano's browser UI counts UTF-16
code units. :class:`OffsetMap` converts at this boundary, both ways, and nowhere else.

Push: documents go through Doccano's bulk import (upload + import task, polled; the task's own
error list is read) in chunks, each line with the same keys ``text``, ``annotate`` (our id,
text_sha256 and document meta, nested in one meta key), ``entities``, ``relations``. After every
chunk the example count (and the importer's span count) is checked against what was sent; a
mismatch (a retried or crashed import) triggers a reconciliation by our document id that deletes
duplicates. A push journal in the state dir (``push-journal/``) records which documents each
project holds, so a re-push only checks one count per project; and, per chunk, a span-id
watermark (the id of a span created just after the import) that lets pull tell a kept
pre-annotation (owned by the importer, id below the watermark) from a span added by the annotator,
without one request per example.

Pull (see :func:`pull`): from a LOCAL server, one read of its database in one transaction
(:mod:`annotate._doccano_fingerprint`, run by the server's Python: export-shaped lines with each
span's owner and the confirmations), preceded by an exact change fingerprint: when it equals the
latest snapshot's, that body is copied into the new snapshot and nothing else is read. From a
remote server, one export (zip via the celery worker) per project and the confirmed examples from
one filtered listing, every time. Either way spans are converted back to code points, validated and
written as an append-only snapshot (see :mod:`annotate.pull`); both paths give the same body.
"""

from __future__ import annotations

import bisect
import hashlib
import http.cookiejar
import io
import json
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import requests

from .errors import AnnotateError, InputError
from .jsonl import dumps, iter_jsonl, write_text
from .schema import LabelSchema, load_labels, schemas_dir

META_KEY = "annotate"  # our fields, nested in ONE Doccano meta key (never id/text/label: they break export)
SEPARATOR = " · "  # NAME · annotator
CHUNK_SIZE = 1000  # documents per import (= Doccano's IMPORT_BATCH_SIZE: one database batch)
PAGE = 500  # listing page size
TASK_TIMEOUT = 1800.0
WATERMARK_PROJECT = "annotate-internal · id watermark"
ANNOTATOR_ROLE = "annotator"
PROJECT_SETTINGS = {
    "project_type": "SequenceLabeling",
    "resourcetype": "SequenceLabelingProject",
    "collaborative_annotation": True,
    "use_relation": True,
    "allow_overlapping": False,
    "grapheme_mode": False,
    "random_order": False,
    "single_class_classification": False,
    "allow_member_to_create_label_type": False,
}
Progress = Callable[[str, int, int], None]  # (stage, done, total)


class DoccanoError(AnnotateError):
    """Doccano could not be reached, or refused or failed a request."""

    exit_code = 1


# ------------------------------------------------------------------ offsets (the UTF-16 boundary)

_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


class OffsetMap:
    """Convert offsets in one text between code points (ours) and UTF-16 code units (Doccano's UI)."""

    __slots__ = ("n", "_astral", "_u16")

    def __init__(self, text: str) -> None:
        self.n = len(text)
        self._astral = [m.start() for m in _ASTRAL.finditer(text)]  # code-point index of each astral char
        self._u16 = [cp + k for k, cp in enumerate(self._astral)]  # its UTF-16 index

    @property
    def u16_length(self) -> int:
        return self.n + len(self._astral)

    def to_u16(self, cp: int) -> int:
        return cp + bisect.bisect_left(self._astral, cp) if self._astral else cp

    def to_cp(self, u16: int) -> Optional[int]:
        """The code point at a UTF-16 offset; None if it is outside the text or splits a surrogate pair."""
        if not 0 <= u16 <= self.u16_length:
            return None
        if not self._astral:
            return u16
        before = bisect.bisect_right(self._u16, u16 - 2)  # astral chars that end at or before u16
        cp = u16 - before
        return cp if self.to_u16(cp) == u16 else None


def u16_length(text: str) -> int:
    """The length of a text in Doccano's units (UTF-16 code units)."""
    return OffsetMap(text).u16_length


def record_to_doccano(record: dict, first_id: int = 1) -> tuple[dict, int]:
    """A record in code points -> ``({"text", "entities", "relations"}, next id)``, offsets in UTF-16.

    Entities, then relations, get consecutive ids from ``first_id``; relations go from span ids of
    the record (``from``/``to``) to the entity ids given here."""
    to16 = OffsetMap(record["text"]).to_u16
    next_id = first_id
    ids, entities = {}, []
    for s in record.get("spans") or []:
        ids[s.get("id")] = next_id
        entities.append({"id": next_id, "start_offset": to16(s["start"]), "end_offset": to16(s["end"]),
                         "label": s["label"]})
        next_id += 1
    relations = []
    for r in record.get("relations") or []:
        relations.append({"id": next_id, "from_id": ids[r["from"]], "to_id": ids[r["to"]], "type": r["label"]})
        next_id += 1
    return {"text": record["text"], "entities": entities, "relations": relations}, next_id


def doccano_spans(text: str, entities: Iterable[dict]) -> list[tuple[dict, Optional[int], Optional[int]]]:
    """Doccano entities (``start_offset``/``end_offset`` in UTF-16) -> ``(entity, start, end)`` in code points;
    ``None`` for an offset outside the text or inside a surrogate pair."""
    omap = OffsetMap(text)
    return [(e, omap.to_cp(e["start_offset"]), omap.to_cp(e["end_offset"])) for e in entities]


# ------------------------------------------------------------------ the HTTP session

class Client:
    """A small authenticated ``requests`` session on Doccano's ``/v1`` API (token auth, no cookies)."""

    def __init__(self, url: str, *, username: str | None = None, password: str | None = None,
                 token: str | None = None, timeout: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        # Cookies would switch DRF to session auth, which demands CSRF tokens on writes: keep none.
        self.session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.session.headers["Accept"] = "application/json"
        if not token:
            if not (username and password):
                raise InputError("Doccano credentials missing: a token, or a user name and password")
            token = self.call("POST", "auth/login/", json={"username": username, "password": password},
                              auth=False, what=f"log in as {username!r}").json()["key"]
        self.session.headers["Authorization"] = f"Token {token}"
        self.username = username or self.get("me")["username"]

    def call(self, method: str, path: str, *, ok: Iterable[int] = (200, 201, 204), auth: bool = True,
             what: str | None = None, **kw: Any) -> requests.Response:
        url = f"{self.url}/v1/{path}"
        kw.setdefault("timeout", self.timeout)
        try:
            if auth:
                resp = self.session.request(method, url, **kw)
            else:
                resp = requests.request(method, url, headers={"Accept": "application/json"}, **kw)
        except requests.ConnectionError as e:
            reason = "connection refused" if "refused" in str(e).lower() else "connection failed"
            raise DoccanoError(f"cannot reach Doccano at {self.url} ({reason}) during {what or method + ' ' + path}",
                               hint="check `annotate server status`, then rerun: finished work is kept") from None
        except requests.Timeout:
            raise DoccanoError(f"Doccano at {self.url} did not answer within {kw['timeout']:.0f} s "
                               f"during {what or method + ' ' + path}") from None
        except requests.RequestException as e:
            raise DoccanoError(f"request to Doccano failed during {what or method + ' ' + path}: {e}") from None
        if resp.status_code not in tuple(ok):
            body = " ".join(resp.text.split())[:300]
            if resp.status_code in (401, 403) and not auth:
                raise DoccanoError(f"Doccano at {self.url} refused the credentials for {what}: {body}")
            raise DoccanoError(f"Doccano {method} /v1/{path} failed: HTTP {resp.status_code}: {body}")
        return resp

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params or None).json()

    def post(self, path: str, data: Any = None, **kw: Any) -> Any:
        resp = self.call("POST", path, json=data, **kw)
        return resp.json() if resp.content else None

    def patch(self, path: str, data: Any) -> Any:
        return self.call("PATCH", path, json=data).json()

    def delete(self, path: str, data: Any = None) -> None:
        self.call("DELETE", path, json=data)

    def pages(self, path: str, **params: Any) -> Iterator[dict]:
        """Every item of a paginated listing, ``PAGE`` at a time."""
        offset = 0
        while True:
            page = self.get(path, limit=PAGE, offset=offset, **params)
            items = page["results"] if isinstance(page, dict) else page
            yield from items
            if not isinstance(page, dict) or not page.get("next") or not items:
                return
            offset += len(items)

    def count(self, project_id: int) -> int:
        return self.get(f"projects/{project_id}/examples", limit=1)["count"]

    def wait_task(self, task_id: str, what: str, timeout: float = TASK_TIMEOUT) -> Any:
        """Poll a celery task until it is ready; raise with the task's own error if it failed."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            status = self.get(f"tasks/status/{task_id}")
            if status.get("ready"):
                if status.get("error"):
                    raise DoccanoError(f"Doccano task {what} failed: {status['error'].get('text', status['error'])}")
                return status.get("result")
            if time.monotonic() > deadline:
                raise DoccanoError(f"Doccano task {what} did not finish within {timeout:.0f} s "
                                   f"(is the celery worker running? see `annotate server status`)")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)


def connect(connection: dict | None = None, state_dir: str | Path | None = None) -> tuple[Client, dict]:
    """A logged-in :class:`Client` from ``connection`` (``server.connection_settings`` by default)."""
    if connection is None:
        from .server import connection_settings

        connection = connection_settings(state_dir)
    client = Client(connection["url"], username=connection.get("username"), password=connection.get("password"),
                    token=connection.get("token"))
    return client, connection


# ------------------------------------------------------------------ projects, label types, members

def project_names(name: str, annotators: Iterable[str]) -> dict[str, Optional[str]]:
    """Doccano project name -> its annotator (None: the single project without annotators)."""
    annotators = list(annotators)
    if not annotators:
        return {name: None}
    return {f"{name}{SEPARATOR}{a}": a for a in annotators}


def guideline_markdown(labels: LabelSchema) -> str:
    """``schemas/guidelines.md`` if there is one, else a guideline generated from the label definitions."""
    path = schemas_dir() / "guidelines.md"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()  # the server trims it: compare like for like
    lines = ["# Annotation guideline", "",
             f"Label schema {labels.version}. Select a span, then press its key (or pick the label).", "",
             "Pre-annotated spans come from an automatic extractor: keep the right ones, fix or delete the wrong ones, "
             "add what is missing. Press the check mark when a document is done.", "", "## Span labels", ""]
    for lab in labels.span_labels:
        lines += [f"### {lab['name']} (key `{lab['key']}`)", "", lab["definition"], ""]
    lines += ["## Relations", ""]
    for rel in labels.relation_types:
        lines += [f"### {rel['name']}: {' | '.join(rel['from'])} → {' | '.join(rel['to'])}", "", rel["definition"], ""]
    return "\n".join(lines).strip()


def _find_project(client: Client, name: str) -> Optional[dict]:
    for p in client.pages("projects", q=name):
        if p["name"] == name:
            return p
    return None


def list_projects(client: Client) -> list[dict]:
    return list(client.pages("projects"))


def ensure_project(client: Client, name: str, labels: LabelSchema, guideline: str) -> tuple[dict, list[str]]:
    """Create the project, or bring its settings and label types in line with ``schemas/``; list the changes."""
    wanted = {**PROJECT_SETTINGS, "guideline": guideline,
              "description": f"annotate: span labels and relations of schemas/labels.json {labels.version}"}
    changes: list[str] = []
    project = _find_project(client, name)
    if project is None:
        project = client.post("projects", {"name": name, "tags": [], **wanted})
        changes.append(f"created project {name!r}")
    else:
        diff = {k: v for k, v in wanted.items() if k not in ("resourcetype", "project_type") and project.get(k) != v}
        if diff:
            project = client.patch(f"projects/{project['id']}", {"resourcetype": wanted["resourcetype"], **diff})
            changes.append(f"updated {', '.join(sorted(diff))} of {name!r}")
    pid = project["id"]
    changes += _ensure_types(client, pid, "span-types", [
        {"text": s["name"], "suffix_key": s["key"], "prefix_key": None, "background_color": s["color"],
         "text_color": "#ffffff"} for s in labels.span_labels], name)
    changes += _ensure_types(client, pid, "relation-types", [
        {"text": r["name"], "suffix_key": r["key"], "prefix_key": None, "background_color": r["color"],
         "text_color": "#ffffff"} for r in labels.relation_types], name)
    return project, changes


def _ensure_types(client: Client, pid: int, kind: str, wanted: list[dict], pname: str) -> list[str]:
    present = {t["text"]: t for t in client.get(f"projects/{pid}/{kind}")}
    changes = []
    for spec in wanted:
        have = present.get(spec["text"])
        if have is None:
            client.post(f"projects/{pid}/{kind}", spec)
            changes.append(f"added {kind[:-1]} {spec['text']} to {pname!r}")
        elif any(have.get(k) != v for k, v in spec.items()):
            client.patch(f"projects/{pid}/{kind}/{have['id']}", spec)
            changes.append(f"updated {kind[:-1]} {spec['text']} in {pname!r}")
    return changes


def ensure_member(client: Client, pid: int, username: str, role: str, users: dict[str, int],
                  roles: dict[str, int]) -> list[str]:
    members = {m["username"]: m for m in client.get(f"projects/{pid}/members")}
    have = members.get(username)
    if have is None:
        client.post(f"projects/{pid}/members", {"user": users[username], "role": roles[role]})
        return [f"added {username} as {role}"]
    if have["rolename"] != role and have["rolename"] != "project_admin":
        client.patch(f"projects/{pid}/members/{have['id']}", {"user": users[username], "role": roles[role]})
        return [f"made {username} {role}"]
    return []


def _ensure_users(client: Client, connection: dict, names: list[str], create: bool) -> tuple[dict[str, int], list[str]]:
    users = {u["username"]: u["id"] for u in client.get("users")}
    missing = [n for n in names if n not in users]
    created: list[str] = []
    if missing:
        if not (create and connection.get("local")):
            raise InputError(f"no Doccano account {', '.join(missing)} on {client.url}",
                             hint=f"create it: `annotate users add {' '.join(missing)}` (local server) "
                                  "or in the Doccano admin page")
        from .server import add_users

        created = add_users(missing, connection.get("state_dir"))["created"]
        users = {u["username"]: u["id"] for u in client.get("users")}
    return users, created


# ------------------------------------------------------------------ the push journal

def journal_dir(connection: dict) -> Path:
    from .server import state_path

    key = hashlib.sha256(connection["url"].encode()).hexdigest()[:12]
    return Path(connection.get("state_dir") or state_path()) / "push-journal" / key


@dataclass
class Journal:
    """What one Doccano project holds of ours: doc id -> [text_sha256, example id or None, watermark or None,
    the pre-annotations as pushed ([start, end, label] in UTF-16) or None].

    A watermark is the id of a span created right after the document's import: the importer's
    spans on that example have smaller ids, anything an annotator adds has a larger one.
    """

    path: Path
    project_id: int
    name: str
    docs: dict
    pending: list = field(default_factory=list)  # import task ids started and not yet checked

    @classmethod
    def load(cls, path: Path, project_id: int, name: str) -> "Journal":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("project_id") == project_id and data.get("name") == name:
                return cls(path, project_id, name, data["docs"], data.get("pending", []))
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        return cls(path, project_id, name, {})

    def save(self) -> None:
        write_text(self.path, json.dumps({"project_id": self.project_id, "name": self.name, "pending": self.pending,
                                          "docs": self.docs}, ensure_ascii=False, separators=(",", ":")) + "\n")


def _journal_for(connection: dict, project: dict) -> Journal:
    return Journal.load(journal_dir(connection) / f"project-{project['id']}.json", project["id"], project["name"])


# ------------------------------------------------------------------ reading documents

@dataclass
class Doc:
    id: str
    sha: str
    line: int


def _scan_documents(path: Path) -> list[Doc]:
    """Check every document line cheaply (id, text, meta.text_sha256 matching the text, unique ids)."""
    docs: list[Doc] = []
    seen: dict[str, int] = {}
    for lineno, rec in iter_jsonl(path):
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or not rec["id"]:
            raise InputError.at(path, lineno, "a document needs a string id")
        if not isinstance(rec.get("text"), str) or not rec["text"]:
            raise InputError.at(path, lineno, f"document {rec['id']!r} has no text")
        meta = rec.get("meta")
        sha = meta.get("text_sha256") if isinstance(meta, dict) else None
        if sha != hashlib.sha256(rec["text"].encode("utf-8")).hexdigest():
            raise InputError.at(path, lineno, f"document {rec['id']!r}: meta.text_sha256 does not match its text")
        if rec["id"] in seen:
            raise InputError.at(path, lineno, f"duplicate document id {rec['id']!r} (first on line {seen[rec['id']]})")
        seen[rec["id"]] = lineno
        docs.append(Doc(rec["id"], sha, lineno))
    if not docs:
        raise InputError.at(path, None, "no documents")
    return docs


def utf16_spans(text: str, spans: list[dict]) -> list[list]:
    """Code-point spans as ``[start, end, label]`` in UTF-16 code units (Doccano's offsets)."""
    omap = OffsetMap(text)
    return [[omap.to_u16(s["start"]), omap.to_u16(s["end"]), s["label"]] for s in spans]


def import_line(record: dict, spans: list[dict]) -> str:
    """One line of the import file: always the same four keys; offsets in UTF-16."""
    line, _ = record_to_doccano({"text": record["text"], "spans": spans}, first_id=0)
    meta = {"id": record["id"], **(record.get("meta") or {})}
    return dumps({"text": line["text"], META_KEY: meta, "entities": line["entities"], "relations": []})


def _drop_overlaps(spans: list[dict]) -> tuple[list[dict], int]:
    """Keep the first of overlapping spans (sorted by start), as Doccano's import would silently do."""
    kept, last_end = [], -1
    for s in spans:
        if s["start"] >= last_end:
            kept.append(s)
            last_end = s["end"]
    return kept, len(spans) - len(kept)


# ------------------------------------------------------------------ push

@dataclass
class _Target:
    name: str
    annotator: Optional[str]
    project: dict
    journal: Journal
    missing: set
    buffer: list  # (doc id, sha, import line, pre-annotations in UTF-16) waiting to be sent
    inflight: list = None  # the same, sent, import task running
    task: Optional[str] = None
    before: tuple = (0, 0)  # example count and importer's span count before the running import


def push(documents: str | Path, project: str, annotators: Iterable[str] = (),
         prelabel: str | Callable[[str], Iterable[Any]] | None = None, *,
         chunk_size: int = CHUNK_SIZE, create_users: bool = True, connection: dict | None = None,
         state_dir: str | Path | None = None, progress: Progress | None = None) -> dict:
    """Create or update the project(s) and upload the documents that are not there yet.

    Returns ``{"projects": {name: {"project_id", "annotator", "created", "present", "changed",
    "failed"}}, "created", "present", "changed", "failed", "changed_ids", "failures",
    "setup_changes", "users_created", "prelabels", "prelabels_dropped_overlap"}``.
    """
    path = Path(documents)
    annotators = [a.strip() for a in annotators if a and a.strip()]
    if len(set(annotators)) != len(annotators):
        raise InputError("--annotators: a name is listed twice")
    if not project.strip() or SEPARATOR.strip() in project:
        raise InputError(f"project name {project!r}: must be non-empty and must not contain {SEPARATOR.strip()!r}")
    if chunk_size < 1:
        raise InputError("chunk size must be at least 1")
    docs = _scan_documents(path)
    extract = None
    if callable(prelabel):
        extract = prelabel
    elif prelabel:
        from .extractors import load_extractor

        extract = load_extractor(prelabel)
    labels = load_labels()
    client, connection = connect(connection, state_dir)
    users, users_created = _ensure_users(client, connection, annotators, create_users)
    roles = {r["name"]: r["id"] for r in client.get("roles")}
    guideline = guideline_markdown(labels)

    setup_changes: list[str] = []
    targets: list[_Target] = []
    by_id = {d.id: d for d in docs}
    for name, annotator in project_names(project, annotators).items():
        proj, changes = ensure_project(client, name, labels, guideline)
        setup_changes += changes
        if annotator:
            setup_changes += [f"{c} in {name!r}" for c in
                              ensure_member(client, proj["id"], annotator, ANNOTATOR_ROLE, users, roles)]
        journal = _journal_for(connection, proj)
        _settle_pending(client, journal)
        if client.count(proj["id"]) != len(journal.docs):
            _reconcile_all(client, proj, journal)
        targets.append(_Target(name, annotator, proj, journal, set(), [], []))

    summary = {n.name: {"project_id": n.project["id"], "annotator": n.annotator, "created": 0, "present": 0,
                        "changed": 0, "failed": 0} for n in targets}
    changed_ids: set[str] = set()
    for t in targets:
        for d in docs:
            have = t.journal.docs.get(d.id)
            if have is None:
                t.missing.add(d.id)
            elif have[0] != d.sha:
                summary[t.name]["changed"] += 1
                changed_ids.add(d.id)
            else:
                summary[t.name]["present"] += 1
    todo = {i for t in targets for i in t.missing}
    failures: list[str] = []
    stats = {"prelabels": 0, "dropped": 0}
    total = sum(len(t.missing) for t in targets)
    done = 0
    if progress:
        progress("push", 0, total)
    if todo:
        try:
            for lineno, rec in iter_jsonl(path):
                if rec["id"] not in todo:
                    continue
                spans: list[dict] = []
                if extract is not None:
                    spans = _prelabels(extract, rec, labels, path, lineno, stats)
                line = import_line(rec, spans)
                pushed = utf16_spans(rec["text"], spans)
                for t in targets:
                    if rec["id"] in t.missing:
                        t.buffer.append((rec["id"], by_id[rec["id"]].sha, line, pushed))
                if any(len(t.buffer) >= chunk_size for t in targets):
                    done += _rotate(client, targets, summary, failures)
                    if progress:
                        progress("push", done, total)
        except InputError:  # a bad pre-annotation: journal what was sent before stopping
            for t in targets:
                _finish_one(client, t, summary, failures)
            raise
        done += _rotate(client, targets, summary, failures)  # the last, partial chunk
        done += sum(_finish_one(client, t, summary, failures) for t in targets)
        if progress:
            progress("push", done, total)
    totals = {k: sum(s[k] for s in summary.values()) for k in ("created", "present", "changed", "failed")}
    return {"projects": summary, **totals, "changed_ids": sorted(changed_ids), "failures": failures,
            "setup_changes": setup_changes, "users_created": users_created, "documents": len(docs),
            "prelabels": stats["prelabels"], "prelabels_dropped_overlap": stats["dropped"], "server": client.url}


def _prelabels(extract, rec: dict, labels: LabelSchema, path: Path, lineno: int, stats: dict) -> list[dict]:
    from .extractors import normalize_spans

    spans = normalize_spans(extract(rec["text"]), rec["text"], where=f"{path}:{lineno}: prelabel of {rec['id']!r}")
    known = set(labels.labels)
    for s in spans:
        if s["label"] not in known:
            raise InputError.at(path, lineno, f"prelabel of {rec['id']!r}: label {s['label']!r} is not in the schema")
    spans, dropped = _drop_overlaps(spans)
    stats["prelabels"] += len(spans)
    stats["dropped"] += dropped
    return spans


def _queue_one(client: Client, t: _Target) -> None:
    """Upload a target's buffer and start its import (recorded in the journal as pending); the buffer
    moves to ``inflight``. The import runs in the worker while the caller goes on."""
    if not t.buffer:
        return
    pid = t.project["id"]
    t.before = (client.count(pid), _importer_spans(client, pid))
    body = "".join(line + "\n" for _, _, line, _ in t.buffer).encode("utf-8")
    upload_id = client.call("POST", "fp/process/", files={"filepond": ("documents.jsonl", body,
                                                                        "application/octet-stream")},
                            headers={"Accept": "*/*"}, what="upload").text.strip()
    t.task = client.post(f"projects/{pid}/upload", {
        "uploadIds": [upload_id], "format": "JSONL", "task": "RelationExtraction",
        "column_data": "text", "column_label": "label", "encoding": "utf_8"})["task_id"]
    t.journal.pending = [t.task]
    t.journal.save()
    t.inflight, t.buffer = t.buffer, []


def _finish_one(client: Client, t: _Target, summary: dict, failures: list[str]) -> int:
    """Wait for a target's running import, then check it: the example count and the importer's span
    count must have grown by exactly what was sent, else reconcile by document id. Journal what landed."""
    if not t.inflight:
        return 0
    pid = t.project["id"]
    result = client.wait_task(t.task, f"import into {t.name!r}")
    watermark = _watermark(client)  # after this import: the annotator's spans on these examples come later
    errors = [f"{t.name}: line {e.get('line', '?')}: {e.get('message', e)}" for e in (result or {}).get("error", [])]
    failures += errors
    n_before, spans_before = t.before
    expected_spans = sum(len(pushed) for _, _, _, pushed in t.inflight)
    clean = (not errors and client.count(pid) == n_before + len(t.inflight)
             and _importer_spans(client, pid) - spans_before == expected_spans)
    if clean:
        for doc_id, sha, _, pushed in t.inflight:
            t.journal.docs[doc_id] = [sha, None, watermark, pushed]
        summary[t.name]["created"] += len(t.inflight)
    else:
        expected = {doc_id: pushed for doc_id, _, _, pushed in t.inflight}
        ok = _reconcile_chunk(client, t.project, t.journal, expected, watermark, failures)
        summary[t.name]["created"] += ok
        summary[t.name]["failed"] += len(t.inflight) - ok
    t.journal.pending = []
    t.journal.save()
    for doc_id, _, _, _ in t.inflight:
        t.missing.discard(doc_id)
    n, t.inflight = len(t.inflight), []
    return n


def _rotate(client: Client, targets: list[_Target], summary: dict, failures: list[str]) -> int:
    """Per target: finish its running import, then start the next one at once, so the worker (which
    runs the other targets' imports meanwhile) never waits for us. Returns the documents finished."""
    done = 0
    for t in targets:
        done += _finish_one(client, t, summary, failures)
        _queue_one(client, t)
    return done


def _settle_pending(client: Client, journal: Journal, timeout: float = 300.0) -> None:
    """Wait for imports an interrupted push left running (the worker may outlive the web server),
    so the reconciliation that follows sees them."""
    for task in journal.pending:
        try:
            client.wait_task(task, "an import left by an interrupted push", timeout=timeout)
        except DoccanoError:
            pass  # failed or lost: the count check and reconciliation handle what is there
    journal.pending = []


def _importer_spans(client: Client, pid: int) -> int:
    dist = client.get(f"projects/{pid}/metrics/span-distribution")
    return sum((dist.get(client.username) or {}).values())


def _watermark(client: Client) -> int:
    """The id of a span created now (then deleted) in a small admin-only project: every span created
    before has a smaller id, every span created after a larger one."""
    if getattr(client, "_watermark_ids", None) is None:
        client._watermark_ids = _watermark_example(client)
    pid, tid, eid = client._watermark_ids
    client.delete(f"projects/{pid}/examples/{eid}/spans")
    span = client.post(f"projects/{pid}/examples/{eid}/spans", {"start_offset": 0, "end_offset": 1, "label": tid})
    client.delete(f"projects/{pid}/examples/{eid}/spans")
    return span["id"]


def _watermark_example(client: Client) -> tuple[int, int, int]:
    """(project, span type, example) ids of the watermark project, created on first use."""
    wp = _find_project(client, WATERMARK_PROJECT)
    if wp is None:
        wp = client.post("projects", {"name": WATERMARK_PROJECT, "tags": [], **PROJECT_SETTINGS,
                                      "guideline": "", "description": "internal to `annotate push`: do not label"})
    pid = wp["id"]
    types = client.get(f"projects/{pid}/span-types")
    tid = types[0]["id"] if types else client.post(f"projects/{pid}/span-types", {"text": "W"})["id"]
    examples = client.get(f"projects/{pid}/examples", limit=1)["results"]
    eid = examples[0]["id"] if examples else client.post(f"projects/{pid}/examples",
                                                         {"text": "watermark", "meta": {}})["id"]
    return pid, tid, eid


def _examples_by_doc(client: Client, pid: int) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for ex in client.pages(f"projects/{pid}/examples"):
        doc_id = (ex.get("meta") or {}).get(META_KEY, {}).get("id")
        if doc_id is not None:
            found.setdefault(doc_id, []).append(ex)
    return found


def _reconcile_chunk(client: Client, project: dict, journal: Journal, expected: dict[str, list], watermark: int,
                     failures: list[str]) -> int:
    """After an import that did not add exactly what was sent: keep one complete example per document,
    delete duplicates and incomplete ones (the next push uploads those again). Returns how many are good."""
    pid = project["id"]
    found = _examples_by_doc(client, pid)
    good, delete = 0, []
    for doc_id, pushed in expected.items():
        exs = sorted(found.get(doc_id, []), key=lambda e: e["id"])
        keep = None
        for ex in exs:
            spans = client.get(f"projects/{pid}/examples/{ex['id']}/spans")
            others = [s for s in spans if s["user"] != _user_id(client)]
            if keep is None and len(spans) - len(others) == len(pushed):
                keep = ex
            elif not others:
                delete.append(ex["id"])
            elif keep is None:
                keep = ex
        if keep is None:
            failures.append(f"{project['name']}: {doc_id}: not imported (rerun push to retry)")
            continue
        sha = ((keep.get("meta") or {}).get(META_KEY) or {}).get("text_sha256")
        journal.docs[doc_id] = [sha, keep["id"], watermark, pushed]
        good += 1
    if delete:
        client.delete(f"projects/{pid}/examples", {"ids": delete})
    return good


_USER_IDS: dict[tuple[str, str], int] = {}


def _user_id(client: Client) -> int:
    key = (client.url, client.username)
    if key not in _USER_IDS:
        _USER_IDS[key] = client.get("me")["id"]
    return _USER_IDS[key]


def _reconcile_all(client: Client, project: dict, journal: Journal) -> None:
    """Rebuild a project's journal from the server (the journal is missing or the counts disagree):
    one entry per document; extra copies of a document that nobody labelled are deleted."""
    pid = project["id"]
    found = _examples_by_doc(client, pid)
    docs, delete = {}, []
    me = _user_id(client)
    for doc_id, exs in found.items():
        exs = sorted(exs, key=lambda e: e["id"])
        keep = exs[0]
        for ex in exs[1:]:
            others = [s for s in client.get(f"projects/{pid}/examples/{ex['id']}/spans") if s["user"] != me]
            (delete if not others else []).append(ex["id"])
        old = journal.docs.get(doc_id)
        sha = ((keep.get("meta") or {}).get(META_KEY) or {}).get("text_sha256")
        same = old and old[1] in (None, keep["id"])
        docs[doc_id] = [sha, keep["id"], old[2] if same else None, old[3] if same and len(old) > 3 else None]
    if delete:
        client.delete(f"projects/{pid}/examples", {"ids": delete})
    journal.docs = docs
    journal.save()


# ------------------------------------------------------------------ pull (reading the server)

def start_exports(client: Client, projects: list[dict]) -> dict[int, str]:
    """Queue one export per project (the worker runs them back to back)."""
    return {p["id"]: client.post(f"projects/{p['id']}/download", {"format": "JSONL", "exportApproved": False})["task_id"]
            for p in projects}


def read_export(client: Client, project: dict, task_id: str) -> list[dict]:
    client.wait_task(task_id, f"export of {project['name']!r}")
    resp = client.call("GET", f"projects/{project['id']}/download", params={"taskId": task_id},
                       what=f"download of {project['name']!r}")
    out = []
    try:
        with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
            for member in zf.namelist():
                for raw in zf.read(member).decode("utf-8").splitlines():
                    if raw.strip():
                        out.append(json.loads(raw))
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DoccanoError(f"the export of {project['name']!r} is not a readable zip of JSONL: {e}") from None
    return out


def confirmed_examples(client: Client, pid: int) -> set[int]:
    """Ids of the examples confirmed (marked done) in a collaborative project."""
    if not client.get(f"projects/{pid}/metrics/progress").get("complete"):
        return set()
    return {ex["id"] for ex in client.pages(f"projects/{pid}/examples", confirmed="true")}


def span_owners(client: Client, pid: int, example_ids: Iterable[int]) -> dict[int, int]:
    """Span id -> owner's user id, one request per example: the exact path, used where the journal can't tell."""
    owners = {}
    for eid in example_ids:
        for s in client.get(f"projects/{pid}/examples/{eid}/spans"):
            owners[s["id"]] = s["user"]
    return owners


def read_project(client: Client, connection: dict, project: dict, annotator: Optional[str], task_id: str,
                 usernames: dict[int, str], problems: list[str]) -> list[dict]:
    """Every example of one project as snapshot records (code points, validated, with span origins).

    A span is a kept pre-annotation (``prelabel``) if the importer owns it, else ``annotator``. The
    owner comes from the push journal's watermark (no request per example); documents the journal
    does not know are asked one by one; and if the importer's span count on the server disagrees with
    the watermarks' verdict (someone else edited), every example is asked.
    """
    from .pull import build_record

    pid = project["id"]
    lines = read_export(client, project, task_id)
    confirmed = confirmed_examples(client, pid)
    journal = _journal_for(connection, project)
    me = _user_id(client)
    who = annotator or client.username
    importer_total = sum((client.get(f"projects/{pid}/metrics/span-distribution").get(client.username) or {}).values())
    watermarks: dict[int, int] = {}
    pushed: dict[int, set] = {}
    unknown: list[int] = []
    for line in lines:
        entry = journal.docs.get((line.get(META_KEY) or {}).get("id"))
        if entry and entry[1] in (None, line["id"]) and len(entry) > 3 and entry[3] is not None:
            pushed[line["id"]] = {tuple(t) for t in entry[3]}
        if entry and entry[2] is not None and entry[1] in (None, line["id"]):
            watermarks[line["id"]] = entry[2]
        elif line.get("entities"):
            unknown.append(line["id"])
    owners = span_owners(client, pid, unknown)
    n_importer = sum(1 for line in lines if line["id"] in watermarks
                     for s in line.get("entities") or [] if s["id"] < watermarks[line["id"]])
    n_importer += sum(1 for user in owners.values() if user == me)
    if n_importer != importer_total:  # the watermarks can't be trusted here: ask the server for every example
        watermarks = {}
        owners = span_owners(client, pid, [line["id"] for line in lines if line.get("entities")])

    def owner(span_id: int, example_id: int) -> str:
        if example_id in watermarks:
            return client.username if span_id < watermarks[example_id] else who
        user = owners.get(span_id)  # None: deleted between the export and now (someone is labelling)
        return who if user is None else usernames.get(user, str(user))

    records = []
    for line in lines:
        rec = build_record(line, annotator=who, project_id=pid, confirmed=line["id"] in confirmed,
                           owner=owner, importer=client.username, project_name=project["name"], problems=problems,
                           pushed=pushed.get(line["id"]))
        if rec is not None:
            records.append(rec)
    return records


_BODY_CODE = (Path(__file__).resolve().parent / "pull.py", Path(__file__).resolve())  # the code that builds a body


def change_fingerprint(client: Client, connection: dict, projects: list[dict]) -> tuple[Optional[str], str]:
    """An exact fingerprint of everything a pull's body depends on, or None and why there is none.

    Doccano's API has no exact change signal (a label PATCH keeps ids and counts), so on a LOCAL
    server it comes from the database (:mod:`annotate._doccano_fingerprint`: per project, count,
    sum/max of ids, latest ``updated_at`` and a column mix of examples, spans, relations and confirmations;
    the label types; the accounts), plus what lives here: the push journals (span origins), the
    label schema, the code that builds a body, the server and the projects. A remote server
    (``DOCCANO_URL``) gives no database access: None, and every pull exports in full.
    """
    if not connection.get("local"):
        return None, "remote server: no database access for a change fingerprint, so a full export every time"
    from .server import fingerprint_projects

    try:
        database = fingerprint_projects([p["id"] for p in projects], connection.get("state_dir"))
    except AnnotateError as e:
        return None, f"no change fingerprint ({e}): full export"
    return _fingerprint_digest(client, connection, projects, database), "database fingerprint"


def _fingerprint_digest(client: Client, connection: dict, projects: list[dict], database: dict) -> str:
    journals = {}
    for p in projects:
        path = _journal_for(connection, p).path
        journals[str(p["id"])] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    inputs = {"server": client.url, "importer": client.username,
              "projects": [[p["id"], p["name"]] for p in projects], "database": database, "journals": journals,
              "labels_sha256": load_labels().sha256,
              "code": [hashlib.sha256(f.read_bytes()).hexdigest() for f in _BODY_CODE]}
    return hashlib.sha256(dumps(inputs).encode("utf-8")).hexdigest()


def read_database(client: Client, connection: dict, projects: list[dict], annotators: dict[int, str],
                  usernames: dict[int, str], problems: list[str],
                  progress: Progress | None = None) -> tuple[list[dict], str]:
    """Every example of the (collaborative) projects of a LOCAL server as snapshot records, read straight from
    its database in one read transaction (no export task): the lines have the export's form plus each span's
    owner and the confirmation, so :func:`annotate.pull.build_record` treats them alike. Returns the records
    and the change fingerprint of exactly the state read."""
    from .pull import build_record
    from .server import read_database as database_lines

    by_id = {p["id"]: p for p in projects}
    pushed: dict[int, dict[str, tuple[set, Optional[int]]]] = {}  # project -> doc id -> (pre-annotations, example)
    for p in projects:
        journal = _journal_for(connection, p)
        pushed[p["id"]] = {doc_id: ({tuple(t) for t in entry[3]}, entry[1]) for doc_id, entry in journal.docs.items()
                           if len(entry) > 3 and entry[3] is not None}
    records: list[dict] = []
    fingerprint, ended, done = None, None, set()
    with database_lines("dump", list(by_id), connection.get("state_dir")) as fh:
        for raw in fh:
            line = json.loads(raw)
            if "fingerprint" in line:
                fingerprint = _fingerprint_digest(client, connection, projects, line["fingerprint"])
                continue
            if "end" in line:
                ended = line["end"]
                continue
            pid = line["project"]
            if progress and pid not in done:
                done.add(pid)
                progress("pull", len(done) - 1, len(projects))
            owners = {e["id"]: e["user"] for e in line["entities"]}
            entry = pushed[pid].get((line.get(META_KEY) or {}).get("id"))
            rec = build_record(line, annotator=annotators[pid], project_id=pid, confirmed=line["confirmed"],
                               owner=lambda span_id, _eid, o=owners: usernames.get(o[span_id], str(o[span_id])),
                               importer=client.username, project_name=by_id[pid]["name"], problems=problems,
                               pushed=entry[0] if entry and entry[1] in (None, line["id"]) else None)
            if rec is not None:
                records.append(rec)
    if fingerprint is None or ended is None:
        raise DoccanoError("the read of the Doccano database stopped before its end: nothing written")
    return records, fingerprint


def pull(project: str, out_root: str | Path = "corpus/annotations", *, connection: dict | None = None,
         state_dir: str | Path | None = None, progress: Progress | None = None) -> dict:
    """Write an append-only snapshot of every annotator's labels of ``project`` (see :mod:`annotate.pull`).

    On a local server, the :func:`change_fingerprint` is taken BEFORE the exports start (a label
    changed while they run then makes the next fingerprint differ: never the other way round) and
    recorded in the manifest. If it equals the latest snapshot's and that body still matches its
    ``body_sha256``, nothing is exported: the new snapshot folder gets a byte copy of that body
    (``"pull_path": "unchanged"``, ``"body_from"``: the folder copied). Otherwise, and always on a
    remote server, every project is exported (``"pull_path": "export"``); ``pull_path_note`` says why.
    """
    from .pull import copy_snapshot, latest_snapshot, write_snapshot

    out_root = Path(out_root)
    client, connection = connect(connection, state_dir)
    projects = [p for p in list_projects(client)
                if p["name"] == project or p["name"].startswith(project + SEPARATOR)]
    if not projects:
        raise InputError(f"no Doccano project {project!r} (nor {project + SEPARATOR}<annotator>) on {client.url}",
                         hint="push first: annotate push --project NAME corpus/documents.jsonl")
    projects.sort(key=lambda p: p["name"])
    fingerprint, note = change_fingerprint(client, connection, projects)
    previous = latest_snapshot(out_root, project) if fingerprint else None
    if previous is not None:
        folder, manifest = previous
        if manifest.get("fingerprint") == fingerprint:
            reused = copy_snapshot(out_root, project, folder, manifest, {
                "fingerprint": fingerprint, "pull_path": "unchanged", "body_from": folder.name,
                "pull_path_note": f"nothing changed since snapshot {folder.name} (equal database fingerprint, "
                                  "body checksum verified): body copied, no export"})
            if reused is not None:
                if progress:
                    progress("pull", len(projects), len(projects))
                return reused
            note = f"snapshot {folder.name} no longer matches its body_sha256: read in full"
        else:
            note = f"changed since snapshot {folder.name}: read in full"
    elif fingerprint:
        note = "no earlier snapshot: read in full"
    usernames = {u["id"]: u["username"] for u in client.get("users")}
    names = {p["id"]: p["name"][len(project + SEPARATOR):] if p["name"] != project else client.username
             for p in projects}
    annotators = {name: pid for pid, name in names.items()}
    problems: list[str] = []
    if progress:
        progress("pull", 0, len(projects))
    path = "export"
    if fingerprint and all(p.get("collaborative_annotation") for p in projects):
        from .server import ServerError

        try:
            records, fingerprint = read_database(client, connection, projects, names, usernames, problems, progress)
            path = "database"
        except ServerError as e:  # e.g. SQLite not in WAL mode: Doccano's export instead
            problems.clear()
            note = f"{note}; the database read failed ({e}), so Doccano's export"
    if path == "export":
        records = []
        tasks = start_exports(client, projects)
        for i, p in enumerate(projects, 1):
            annotator = names[p["id"]] if p["name"] != project else None
            records += read_project(client, connection, p, annotator, tasks[p["id"]], usernames, problems)
            if progress:
                progress("pull", i, len(projects))
    if progress:
        progress("pull", len(projects), len(projects))
    return write_snapshot(out_root, project, records, problems=problems, server=client.url, annotators=annotators,
                          extra={"fingerprint": fingerprint, "pull_path": path, "body_from": None,
                                 "pull_path_note": note})


# ------------------------------------------------------------------ labelling through the API (replay, scripts)

def label_type_ids(client: Client, pid: int) -> tuple[dict[str, int], dict[str, int]]:
    """The project's span types and relation types: ``({name: id}, {name: id})``."""
    return ({t["text"]: t["id"] for t in client.get(f"projects/{pid}/span-types")},
            {t["text"]: t["id"] for t in client.get(f"projects/{pid}/relation-types")})


def iter_examples(client: Client, pid: int) -> Iterator[dict]:
    """Every example of a project (``id``, ``text``, ``meta``, ``is_confirmed``...), page by page."""
    return client.pages(f"projects/{pid}/examples")


def _example_path(pid: int, eid: int) -> str:
    return f"projects/{pid}/examples/{eid}"


def example_annotations(client: Client, pid: int, example: dict) -> tuple[list[dict], list[dict]]:
    """The labels of one example visible to the client, in code points.

    Spans ``{"id", "start", "end", "label": span type id}`` (``start``/``end`` None when Doccano's
    offset is outside the text or splits a character); relations ``{"id", "from", "to", "type": id}``."""
    base = _example_path(pid, example["id"])
    spans = [{"id": e["id"], "start": start, "end": end, "label": e["label"]}
             for e, start, end in doccano_spans(example["text"], client.get(f"{base}/spans"))]
    relations = [{"id": r["id"], "from": r["from_id"], "to": r["to_id"], "type": r["type"]}
                 for r in client.get(f"{base}/relations")]
    return spans, relations


def add_span(client: Client, pid: int, eid: int, text: str, start: int, end: int, label_id: int) -> int:
    """Create a span (code points of ``text``) in an example; return its Doccano id."""
    omap = OffsetMap(text)
    return client.post(f"{_example_path(pid, eid)}/spans", {"label": label_id, "start_offset": omap.to_u16(start),
                                                            "end_offset": omap.to_u16(end)})["id"]


def delete_span(client: Client, pid: int, eid: int, span_id: int) -> None:
    """Delete a span (Doccano deletes its relations with it)."""
    client.delete(f"{_example_path(pid, eid)}/spans/{span_id}")


def add_relation(client: Client, pid: int, eid: int, from_id: int, to_id: int, type_id: int) -> int:
    """Create a relation between two spans of an example; return its Doccano id."""
    return client.post(f"{_example_path(pid, eid)}/relations",
                       {"from_id": from_id, "to_id": to_id, "type": type_id})["id"]


def delete_relation(client: Client, pid: int, eid: int, relation_id: int) -> None:
    client.delete(f"{_example_path(pid, eid)}/relations/{relation_id}")


def confirm_example(client: Client, pid: int, example: dict) -> bool:
    """Confirm an example (the check mark) unless it already is: Doccano's state endpoint toggles.
    Returns True when it was confirmed now."""
    if example.get("is_confirmed"):
        return False
    client.post(f"{_example_path(pid, example['id'])}/states")
    return True


# ------------------------------------------------------------------ the per-call path (a benchmark anchor)

def push_per_call(connection: dict, project_id: int, records: Iterable[tuple[dict, list[dict]]]) -> int:
    """Upload documents the way a doccano-client script does: one call per example and one per span
    (by label id, the client's faster form). Only the benchmark uses it, as the alternative to beat.
    Returns the number of spans created."""
    from doccano_client import DoccanoClient

    dc = DoccanoClient(connection["url"])
    dc.login(connection["username"], connection["password"])
    type_ids = {t.text: t.id for t in dc.list_label_types(project_id, "span")}
    n = 0
    for record, spans in records:
        omap = OffsetMap(record["text"])
        example = dc.create_example(project_id, record["text"], meta={META_KEY: {"id": record["id"]}})
        for s in spans:
            dc.create_span(project_id, example.id, omap.to_u16(s["start"]), omap.to_u16(s["end"]),
                           type_ids[s["label"]])
            n += 1
    return n
