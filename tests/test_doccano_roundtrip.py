"""push -> label as two annotators through the REST API (UTF-16 offsets, as the UI does) -> pull, on a real Doccano.

Uses the session fixture ``doccano_server`` (tests/doccano_fixtures.py); every test uses its own
project name, so they share one server.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jsonschema
import pytest
import requests

from annotate import doccano
from annotate.jsonl import read_jsonl
from annotate.schema import json_schema

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "corpus" / "documents.jsonl"

# Emoji with skin tone and ZWJ (doccano issue 2290), a flag, combining marks (decomposed), Arabic script.
UNICODE_TEXT = ("👨🏻‍🚒 firemen said 12 civilians were killed in Idlib. "
                "Cafe\u0301 owners in Kafr Nabl told Reuters 3 people were injured 🇸🇾. "
                "قال ناشطون إن 5 مدنيين قتلوا في إدلب, activists said.")
CRLF_RAW = ("Rescuers said at least 7 civilians were killed 💥 in Idlib province.\r\n"
            "The Syrian Network for Human Rights said 2 people 👩🏽‍⚕️ died in Hama.\r\n")

PATTERNS = [
    (r"(?:at least )?\d+ (?:civilians|people|firemen)|\d+ مدنيين", "FIGURE"),
    (r"Idlib(?: province)?|Kafr Nabl|Hama|إدلب", "LOCATION"),
    (r"\bsaid\b|told Reuters|قال", "ATTRIBUTION"),
    (r"👨🏻‍🚒|Syrian Network for Human Rights|activists", "ACTOR"),
]


def extract(text: str):
    """A tiny deterministic extractor for the tests (non-overlapping by construction)."""
    spans = []
    for pattern, label in PATTERNS:
        spans += [{"start": m.start(), "end": m.end(), "label": label} for m in re.finditer(pattern, text)]
    kept, last_end = [], -1
    for s in sorted(spans, key=lambda s: (s["start"], -s["end"])):
        if s["start"] >= last_end:
            kept.append(s)
            last_end = s["end"]
    return kept


def u16(text: str, cp: int) -> int:
    """A code-point offset in UTF-16 code units, computed independently of annotate.doccano."""
    return len(text[:cp].encode("utf-16-le")) // 2


def document(doc_id: str, text: str) -> dict:
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return {"id": doc_id, "text": text, "meta": {"source_file": f"{doc_id}.txt", "raw_sha256": sha,
                                                 "text_sha256": sha, "duplicate_of": None, "near_duplicates": []}}


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> Path:
    """The seeds (corpus/documents.jsonl if ingest produced it), a Unicode document, and one ingested from CRLF text."""
    tmp = tmp_path_factory.mktemp("docs")
    records = list(read_jsonl(SEEDS)) if SEEDS.is_file() else []
    records.append(document("unicode-1", UNICODE_TEXT))
    from annotate.ingest import ingest

    (tmp / "crlf.txt").write_bytes(CRLF_RAW.encode("utf-8"))
    res = ingest([tmp / "crlf.txt"], tmp / "crlf.jsonl")
    assert res["documents"] == 1, res
    crlf = next(read_jsonl(tmp / "crlf.jsonl"))
    assert "\r" not in crlf["text"] and "💥" in crlf["text"]
    records.append(crlf)
    path = tmp / "documents.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


class Annotator:
    """Talks to Doccano as the browser UI does for one annotator (token auth, UTF-16 offsets)."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.s = url, requests.Session()
        self.s.headers["Authorization"] = f"Token {token}"

    def api(self, method: str, path: str, **kw):
        resp = self.s.request(method, f"{self.url}/v1/{path}", timeout=60, **kw)
        assert resp.status_code < 300, (method, path, resp.status_code, resp.text[:300])
        return resp.json() if resp.content else None

    def project(self, name: str) -> int:
        return next(p["id"] for p in self.api("GET", "projects", params={"limit": 100})["results"] if p["name"] == name)

    def examples(self, pid: int) -> dict[str, dict]:
        page = self.api("GET", f"projects/{pid}/examples", params={"limit": 100})
        return {ex["meta"]["annotate"]["id"]: ex for ex in page["results"]}

    def types(self, pid: int, kind: str) -> dict[str, int]:
        return {t["text"]: t["id"] for t in self.api("GET", f"projects/{pid}/{kind}")}


def test_round_trip_two_annotators(doccano_server, documents, tmp_path):
    ds = doccano_server
    project = "rt"
    res = doccano.push(documents, project, ["rt_ann1", "rt_ann2"], prelabel=extract, connection=ds.settings())
    n_docs = sum(1 for _ in read_jsonl(documents))
    assert res["created"] == 2 * n_docs and res["failed"] == 0 and res["present"] == 0
    assert sorted(res["users_created"]) == ["rt_ann1", "rt_ann2"]
    texts = {d["id"]: d["text"] for d in read_jsonl(documents)}
    crlf_id = next(i for i, t in texts.items() if "💥" in t)

    a1 = Annotator(ds.url, ds.token("rt_ann1"))
    a2 = Annotator(ds.url, ds.token("rt_ann2"))
    p1 = a1.project(f"{project} · rt_ann1")
    p2 = a2.project(f"{project} · rt_ann2")
    # each annotator sees only their own project
    assert {p["name"] for p in a1.api("GET", "projects", params={"limit": 100})["results"]} == {f"{project} · rt_ann1"}
    ex1, ex2 = a1.examples(p1), a2.examples(p2)
    assert set(ex1) == set(ex2) == set(texts)

    # The pre-annotations are visible to the annotator, in UTF-16 offsets exactly where the extractor put them.
    for doc_id, text in texts.items():
        spans = a1.api("GET", f"projects/{p1}/examples/{ex1[doc_id]['id']}/spans")
        types = {v: k for k, v in a1.types(p1, "span-types").items()}
        got = sorted((s["start_offset"], s["end_offset"], types[s["label"]]) for s in spans)
        want = sorted((u16(text, s["start"]), u16(text, s["end"]), s["label"]) for s in extract(text))
        assert got == want, doc_id

    # annotator 1 on the Unicode document: delete a pre-annotation, add a span, relate, confirm.
    text = texts["unicode-1"]
    eid = ex1["unicode-1"]["id"]
    span_types, rel_types = a1.types(p1, "span-types"), a1.types(p1, "relation-types")
    spans = {(s["start_offset"], s["end_offset"]): s for s in a1.api("GET", f"projects/{p1}/examples/{eid}/spans")}
    cafe = text.index("Kafr Nabl")
    deleted = spans[(u16(text, cafe), u16(text, cafe + len("Kafr Nabl")))]
    a1.api("DELETE", f"projects/{p1}/examples/{eid}/spans/{deleted['id']}")
    owners = text.index("Cafe\u0301 owners")  # starts with a combining sequence, after the emoji: drift shows here
    added = a1.api("POST", f"projects/{p1}/examples/{eid}/spans", json={
        "start_offset": u16(text, owners), "end_offset": u16(text, owners + len("Cafe\u0301 owners")),
        "label": span_types["ACTOR"]})
    figure = spans[(u16(text, text.index("3 people")), u16(text, text.index("3 people") + len("3 people")))]
    told = spans[(u16(text, text.index("told Reuters")), u16(text, text.index("told Reuters") + len("told Reuters")))]
    rel = a1.api("POST", f"projects/{p1}/examples/{eid}/relations", json={
        "from_id": figure["id"], "to_id": told["id"], "type": rel_types["REPORTED_BY"]})
    a1.api("POST", f"projects/{p1}/examples/{eid}/states", json={})
    idlib_ar = text.index("إدلب")  # relabel a pre-annotation (the UI PATCHes the label): still the admin's span
    relabelled = spans[(u16(text, idlib_ar), u16(text, idlib_ar + len("إدلب")))]
    a1.api("PATCH", f"projects/{p1}/examples/{eid}/spans/{relabelled['id']}", json={"label": span_types["ACTOR"]})
    arabic = text.index("ناشطون")  # an Arabic span added by hand, after the flag emoji
    a1.api("POST", f"projects/{p1}/examples/{eid}/spans", json={
        "start_offset": u16(text, arabic), "end_offset": u16(text, arabic + len("ناشطون")), "label": span_types["ACTOR"]})

    # annotator 2 on the CRLF-born document: keep the pre-annotations, add one span; not confirmed.
    ctext = texts[crlf_id]
    ceid = ex2[crlf_id]["id"]
    rescuers = ctext.index("Rescuers")
    a2.api("POST", f"projects/{p2}/examples/{ceid}/spans", json={
        "start_offset": u16(ctext, rescuers), "end_offset": u16(ctext, rescuers + len("Rescuers")),
        "label": a2.types(p2, "span-types")["ACTOR"]})

    out = tmp_path / "annotations"
    snap = doccano.pull(project, out, connection=ds.settings())
    assert snap["problems"] == []
    assert snap["annotators"] == ["rt_ann1", "rt_ann2"]
    folder = Path(snap["snapshot"])
    records = list(read_jsonl(folder / "annotations.jsonl"))
    schema = json_schema("snapshot.schema.json")
    for r in records:
        jsonschema.validate(r, schema)
    assert [(r["id"], r["annotator"]) for r in records] == sorted((d, a) for d in texts for a in ("rt_ann1", "rt_ann2"))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["body_sha256"] == hashlib.sha256((folder / "annotations.jsonl").read_bytes()).hexdigest()
    by = {(r["id"], r["annotator"]): r for r in records}

    def triples(rec, origin=None):
        return sorted((s["start"], s["end"], s["label"]) for s in rec["spans"] if origin in (None, s["origin"]))

    # Untouched documents: exactly the extractor's spans, in code points, all kept pre-annotations by the admin.
    for doc_id, t in texts.items():
        for ann in ("rt_ann1", "rt_ann2"):
            rec = by[(doc_id, ann)]
            assert rec["text_sha256"] == hashlib.sha256(t.encode()).hexdigest()
            if (doc_id, ann) in {("unicode-1", "rt_ann1"), (crlf_id, "rt_ann2")}:
                continue
            assert triples(rec) == sorted((s["start"], s["end"], s["label"]) for s in extract(t)), (doc_id, ann)
            assert {s["origin"] for s in rec["spans"]} <= {"prelabel"} and not rec["confirmed"]
            assert {s["user"] for s in rec["spans"]} <= {ds.username} and rec["relations"] == []

    u = by[("unicode-1", "rt_ann1")]
    kept = [{**s, "label": "ACTOR"} if s["start"] == idlib_ar else s for s in extract(text) if s["start"] != cafe]
    assert triples(u, "prelabel") == sorted((s["start"], s["end"], s["label"]) for s in kept)
    assert [s["id"] for s in u["spans"] if s.get("edited")] == [relabelled["id"]]
    assert all("edited" not in s for r in records if r is not u for s in r["spans"])
    assert triples(u, "annotator") == sorted([(owners, owners + len("Cafe\u0301 owners"), "ACTOR"),
                                              (arabic, arabic + len("ناشطون"), "ACTOR")])
    assert {s["user"] for s in u["spans"] if s["origin"] == "annotator"} == {"rt_ann1"}
    assert added["id"] in {s["id"] for s in u["spans"]} and deleted["id"] not in {s["id"] for s in u["spans"]}
    assert [text[s["start"]:s["end"]] for s in u["spans"] if s["origin"] == "annotator"] == ["Cafe\u0301 owners", "ناشطون"]
    assert u["relations"] == [{"id": rel["id"], "from": figure["id"], "to": told["id"], "label": "REPORTED_BY"}]
    assert u["confirmed"] is True
    assert by[("unicode-1", "rt_ann2")]["confirmed"] is False  # annotator 2's copy is independent

    c = by[(crlf_id, "rt_ann2")]
    assert triples(c, "annotator") == [(rescuers, rescuers + len("Rescuers"), "ACTOR")]
    assert triples(c, "prelabel") == sorted((s["start"], s["end"], s["label"]) for s in extract(ctext))
    assert [ctext[s["start"]:s["end"]] for s in c["spans"] if s["origin"] == "annotator"] == ["Rescuers"]

    # An unchanged project pulls to an identical body, in a new snapshot folder (append-only).
    again = doccano.pull(project, out, connection=ds.settings())
    assert Path(again["snapshot"]) != folder and folder.is_dir()
    assert (Path(again["snapshot"]) / "annotations.jsonl").read_bytes() == (folder / "annotations.jsonl").read_bytes()
    assert sorted(p.name for p in (out / project).iterdir()) == sorted([folder.name, Path(again["snapshot"]).name])
    # Doccano's export (the remote path: watermarks for span origins) and the local database read agree
    assert snap["pull_path"] == "database" and again["pull_path"] == "unchanged"
    exported = doccano.pull(project, tmp_path / "exported", connection={**ds.settings(), "local": False})
    assert exported["pull_path"] == "export" and exported["body_sha256"] == snap["body_sha256"]


def test_pull_reports_spans_past_the_end(doccano_server, tmp_path):
    """The server accepts a span past the end of the text; pull leaves it out and says so."""
    ds = doccano_server
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps(document("short-1", "Idlib 🙂 said."), ensure_ascii=False) + "\n", encoding="utf-8")
    doccano.push(docs, "pastend", ["pe_ann"], connection=ds.settings())
    a = Annotator(ds.url, ds.token("pe_ann"))
    pid = a.project("pastend · pe_ann")
    eid = a.examples(pid)["short-1"]["id"]
    a.api("POST", f"projects/{pid}/examples/{eid}/spans", json={"start_offset": 9, "end_offset": 40,
                                                                 "label": a.types(pid, "span-types")["ACTOR"]})
    # UTF-16 offset 7 is inside the surrogate pair of 🙂 (code units 6-7): no code point there.
    a.api("POST", f"projects/{pid}/examples/{eid}/spans", json={"start_offset": 0, "end_offset": 7,
                                                                 "label": a.types(pid, "span-types")["LOCATION"]})
    snap = doccano.pull("pastend", tmp_path / "out", connection=ds.settings())
    assert len(snap["problems"]) == 2
    assert any("9-40" in p and "outside the text" in p for p in snap["problems"])
    assert any("0-7" in p for p in snap["problems"])
    rec = next(read_jsonl(Path(snap["snapshot"]) / "annotations.jsonl"))
    assert rec["spans"] == []

    # The text edited in Doccano (an admin can): reported, with the sha256 of the text as it is now.
    admin, _ = doccano.connect(ds.settings())
    admin.patch(f"projects/{pid}/examples/{eid}", {"text": "Idlib 🙂 said so."})
    snap = doccano.pull("pastend", tmp_path / "out", connection=ds.settings())
    assert any("short-1" in p and "no longer matches" in p for p in snap["problems"])
    rec = next(read_jsonl(Path(snap["snapshot"]) / "annotations.jsonl"))
    assert rec["text_sha256"] == hashlib.sha256("Idlib 🙂 said so.".encode()).hexdigest()


def test_unchanged_pull_copies_the_body_and_every_change_forces_a_full_read(doccano_server, documents, tmp_path):
    """The change fingerprint (local server: read from the database) is exact: an unchanged project is not
    read again (a new folder, a byte-identical body); a label PATCH, a delete + recreate of the same span
    (same counts), a new relation and a confirmation toggle each make the next pull read in full. The local
    database read gives the same body as Doccano's export (the remote path)."""
    ds = doccano_server
    project = "fp"
    doccano.push(documents, project, ["fp_ann"], prelabel=extract, connection=ds.settings())
    out = tmp_path / "annotations"
    first = doccano.pull(project, out, connection=ds.settings())
    assert first["pull_path"] == "database" and first["fingerprint"] and first["body_from"] is None
    assert first["pull_path_note"] == "no earlier snapshot: read in full"
    second = doccano.pull(project, out, connection=ds.settings())
    assert second["pull_path"] == "unchanged" and second["body_from"] == Path(first["snapshot"]).name
    assert second["fingerprint"] == first["fingerprint"] and second["snapshot"] != first["snapshot"]
    body = (Path(first["snapshot"]) / "annotations.jsonl").read_bytes()
    assert (Path(second["snapshot"]) / "annotations.jsonl").read_bytes() == body
    assert second["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert json.loads((Path(second["snapshot"]) / "manifest.json").read_text())["pull_path"] == "unchanged"

    a = Annotator(ds.url, ds.token("fp_ann"))
    pid = a.project(f"{project} · fp_ann")
    eid = a.examples(pid)["unicode-1"]["id"]
    span_types, rel_types = a.types(pid, "span-types"), a.types(pid, "relation-types")
    names = {v: k for k, v in span_types.items()}

    def spans_now():
        return sorted(a.api("GET", f"projects/{pid}/examples/{eid}/spans"), key=lambda s: s["start_offset"])

    def record(snap):
        return next(r for r in read_jsonl(Path(snap["snapshot"]) / "annotations.jsonl") if r["id"] == "unicode-1")

    def pull_changed(previous):
        snap = doccano.pull(project, out, connection=ds.settings())
        assert snap["pull_path"] == "database", snap["pull_path_note"]
        assert snap["pull_path_note"] == f"changed since snapshot {Path(previous['snapshot']).name}: read in full"
        assert snap["fingerprint"] != previous["fingerprint"] and snap["body_sha256"] != previous["body_sha256"]
        return snap

    # 1. PATCH a span's label (ids and counts stay the same)
    target = spans_now()[0]
    new_label = next(i for i in span_types.values() if i != target["label"])
    a.api("PATCH", f"projects/{pid}/examples/{eid}/spans/{target['id']}", json={"label": new_label})
    snap = pull_changed(second)
    assert {s["id"]: s["label"] for s in record(snap)["spans"]}[target["id"]] == names[new_label]

    # 2. delete + recreate the same span (same offsets, same label: every count stays the same)
    a.api("DELETE", f"projects/{pid}/examples/{eid}/spans/{target['id']}")
    again = a.api("POST", f"projects/{pid}/examples/{eid}/spans", json={
        "start_offset": target["start_offset"], "end_offset": target["end_offset"], "label": new_label})
    snap2 = pull_changed(snap)
    ids = {s["id"] for s in record(snap2)["spans"]}
    assert again["id"] in ids and target["id"] not in ids and len(ids) == len(record(snap)["spans"])

    # 3. add a relation
    one, two = spans_now()[:2]
    rel = a.api("POST", f"projects/{pid}/examples/{eid}/relations", json={
        "from_id": one["id"], "to_id": two["id"], "type": rel_types["SOURCE"]})
    snap3 = pull_changed(snap2)
    assert [r["id"] for r in record(snap3)["relations"]] == [rel["id"]]

    # 4. confirm, then un-confirm (POST toggles): each one is a change
    a.api("POST", f"projects/{pid}/examples/{eid}/states", json={})
    snap4 = pull_changed(snap3)
    assert record(snap4)["confirmed"] is True and record(snap3)["confirmed"] is False
    a.api("POST", f"projects/{pid}/examples/{eid}/states", json={})
    snap5 = doccano.pull(project, out, connection=ds.settings())
    assert snap5["pull_path"] == "database" and record(snap5)["confirmed"] is False
    assert snap5["body_sha256"] == snap3["body_sha256"]  # back where it was: the same body as before the confirm

    # unchanged again: a copy; a body that no longer matches its checksum is never copied
    snap6 = doccano.pull(project, out, connection=ds.settings())
    assert snap6["pull_path"] == "unchanged" and snap6["body_sha256"] == snap5["body_sha256"]
    body6 = Path(snap6["snapshot"]) / "annotations.jsonl"
    body6.write_bytes(body6.read_bytes().replace(b'"confirmed":false', b'"confirmed":true ', 1))
    snap7 = doccano.pull(project, out, connection=ds.settings())
    assert snap7["pull_path"] == "database" and "no longer matches its body_sha256" in snap7["pull_path_note"]
    assert snap7["body_sha256"] == snap5["body_sha256"]
    # the export path (what a remote server gets) yields the same body as the database read
    exported = doccano.pull(project, out, connection={**ds.settings(), "local": False})
    assert exported["pull_path"] == "export" and exported["body_sha256"] == snap5["body_sha256"]

    # a label type renamed in Doccano (the admin's label page): its spans are no longer schema labels
    admin, _ = doccano.connect(ds.settings())
    loc = span_types["LOCATION"]
    admin.patch(f"projects/{pid}/span-types/{loc}", {"text": "PLACE"})
    try:
        renamed = doccano.pull(project, out, connection=ds.settings())
    finally:
        admin.patch(f"projects/{pid}/span-types/{loc}", {"text": "LOCATION"})
    assert renamed["pull_path"] == "database" and any("PLACE: label not in the schema" in p for p in renamed["problems"])
    assert doccano.pull(project, out, connection=ds.settings())["body_sha256"] == snap5["body_sha256"]
    assert not [p for p in (out / project).iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_remote_server_pulls_in_full_and_says_so(doccano_server, tmp_path):
    """No database access (DOCCANO_URL): no fingerprint, every pull exports, the manifest says why."""
    ds = doccano_server
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps(document("remote-1", "Idlib said."), ensure_ascii=False) + "\n", encoding="utf-8")
    doccano.push(docs, "remotefp", ["rf_ann"], connection=ds.settings())
    remote = {**ds.settings(), "local": False, "state_dir": None}
    snaps = [doccano.pull("remotefp", tmp_path / "out", connection=remote) for _ in range(2)]
    for snap in snaps:
        assert snap["pull_path"] == "export" and snap["fingerprint"] is None
        assert snap["pull_path_note"].startswith("remote server: no database access")
        manifest = json.loads((Path(snap["snapshot"]) / "manifest.json").read_text())
        assert manifest["pull_path"] == "export" and manifest["fingerprint"] is None
    assert snaps[0]["body_sha256"] == snaps[1]["body_sha256"]
