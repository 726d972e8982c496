"""push on a real Doccano: idempotence, changed texts, project setup, a server killed mid-push and mid-pull, the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotate import doccano
from annotate.cli import app
from annotate.doccano import DoccanoError, OffsetMap
from annotate.jsonl import read_jsonl
from annotate.schema import load_labels

WORDS = ["Idlib", "Hama", "said", "civilians", "👨🏻‍🚒", "قال", "e\u0301", "barrel", "bombs", "rescuers"]


def make_docs(path: Path, n: int, prefix: str) -> Path:
    lines = []
    for i in range(n):
        text = f"{prefix} {i}: " + " ".join(WORDS[(i + k) % len(WORDS)] for k in range(12)) + f" {i * 7} people."
        sha = hashlib.sha256(text.encode()).hexdigest()
        lines.append(json.dumps({"id": f"{prefix}-{i:04d}", "text": text, "meta": {
            "source_file": "synthetic", "raw_sha256": sha, "text_sha256": sha, "duplicate_of": None,
            "near_duplicates": []}}, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def extract(text: str):
    """Every occurrence of a few words, as code-point spans."""
    labels = {"Idlib": "LOCATION", "Hama": "LOCATION", "said": "ATTRIBUTION", "👨🏻‍🚒": "ACTOR", "bombs": "WEAPON"}
    out, i = [], 0
    for word in text.split(" "):
        if word in labels:
            out.append((i, i + len(word), labels[word]))
        i += len(word) + 1
    return out


def spans_by_doc(ds, project: str, tmp: Path) -> dict[tuple[str, str], list]:
    snap = doccano.pull(project, tmp / "pulled", connection=ds.settings())
    assert snap["problems"] == []
    return {(r["id"], r["annotator"]): sorted((s["start"], s["end"], s["label"]) for s in r["spans"])
            for r in read_jsonl(Path(snap["snapshot"]) / "annotations.jsonl")}


# ------------------------------------------------------------------ offline

@pytest.mark.parametrize("text", ["plain ascii", "👨🏻‍🚒 firemen drive firetrucks", "Cafe\u0301 قال 🇸🇾 x 💥",
                                  "a\r\nb 😀😀 c"])
def test_offset_map_round_trip(text):
    omap = OffsetMap(text)
    assert omap.u16_length == len(text.encode("utf-16-le")) // 2
    for cp in range(len(text) + 1):
        u = len(text[:cp].encode("utf-16-le")) // 2
        assert omap.to_u16(cp) == u
        assert omap.to_cp(u) == cp


def test_offset_map_rejects_split_surrogates_and_out_of_range():
    omap = OffsetMap("👨🏻‍🚒 firemen")  # issue 2290's example: doccano 22-32 is Python 19-29 in the full sentence
    assert omap.to_cp(1) is None and omap.to_cp(3) is None  # inside 👨 and 🏻
    assert omap.to_cp(omap.u16_length + 1) is None and omap.to_cp(-1) is None
    full = "👨🏻‍🚒 firemen drive firetrucks"
    m = OffsetMap(full)
    assert (m.to_cp(22), m.to_cp(32)) == (19, 29) and full[19:29] == "firetrucks"


def test_import_line_has_one_key_set_and_utf16_offsets():
    rec = {"id": "d", "text": "👨🏻‍🚒 said", "meta": {"text_sha256": "x"}}
    a = json.loads(doccano.import_line(rec, [{"start": 5, "end": 9, "label": "ATTRIBUTION"}]))
    b = json.loads(doccano.import_line({**rec, "id": "e"}, []))
    assert list(a) == list(b) == ["text", "annotate", "entities", "relations"]
    assert a["entities"] == [{"id": 0, "start_offset": 8, "end_offset": 12, "label": "ATTRIBUTION"}]
    assert a["annotate"] == {"id": "d", "text_sha256": "x"} and b["entities"] == [] == b["relations"]

def test_record_to_doccano_and_back_convert_at_the_boundary():
    text = "🇸🇾 Idlib, rescuers said"  # the flag is 2 code points, 4 UTF-16 units
    rec = {"id": "d", "text": text, "spans": [{"id": 7, "start": 3, "end": 8, "label": "LOCATION"},
                                              {"id": 9, "start": 10, "end": 18, "label": "ACTOR"},
                                              {"id": 2, "start": 19, "end": 23, "label": "ATTRIBUTION"}],
           "relations": [{"from": 2, "to": 9, "label": "SOURCE"}]}
    line, next_id = doccano.record_to_doccano(rec, first_id=5)
    assert line["entities"] == [{"id": 5, "start_offset": 5, "end_offset": 10, "label": "LOCATION"},
                                {"id": 6, "start_offset": 12, "end_offset": 20, "label": "ACTOR"},
                                {"id": 7, "start_offset": 21, "end_offset": 25, "label": "ATTRIBUTION"}]
    assert line["relations"] == [{"id": 8, "from_id": 7, "to_id": 6, "type": "SOURCE"}] and next_id == 9
    back = doccano.doccano_spans(text, line["entities"] + [{"start_offset": 1, "end_offset": 30}])
    assert [(s, e) for _, s, e in back] == [(3, 8), (10, 18), (19, 23), (None, None)]  # inside the flag; past the end
    assert doccano.u16_length(text) == len(text) + 2


def test_guideline_covers_every_label():
    text = doccano.guideline_markdown(load_labels())
    assert text and text == text.strip()


def test_push_bad_input_is_one_line(tmp_path):
    bad = tmp_path / "docs.jsonl"
    bad.write_text('{"id": "a", "text": "x", "meta": {"text_sha256": "0"}}\n')
    with pytest.raises(Exception) as e:
        doccano.push(bad, "p", connection={"url": "http://127.0.0.1:1", "token": "x"})
    assert "docs.jsonl:1" in str(e.value) and "text_sha256" in str(e.value)
    result = CliRunner().invoke(app, ["push", "--project", "p", str(bad)])
    assert result.exit_code == 2 and "text_sha256" in result.output and "Traceback" not in result.output


# ------------------------------------------------------------------ against the server

def test_push_is_idempotent_and_reports_changed_text(doccano_server, tmp_path):
    ds = doccano_server
    docs = make_docs(tmp_path / "docs.jsonl", 12, "idem")
    first = doccano.push(docs, "idem", ["idem_a", "idem_b"], prelabel=extract, connection=ds.settings(), chunk_size=5)
    assert (first["created"], first["present"], first["failed"]) == (24, 0, 0)
    assert first["setup_changes"]
    second = doccano.push(docs, "idem", ["idem_a", "idem_b"], prelabel=extract, connection=ds.settings(), chunk_size=5)
    assert (second["created"], second["present"], second["changed"], second["failed"]) == (0, 24, 0, 0)
    assert second["setup_changes"] == [] and second["users_created"] == []
    client, _ = doccano.connect(ds.settings())
    for name, s in second["projects"].items():
        assert client.count(s["project_id"]) == 12

    # The same id with another text: reported as changed, the server copy is left alone.
    records = list(read_jsonl(docs))
    records[3]["text"] += " Edited."
    records[3]["meta"]["text_sha256"] = hashlib.sha256(records[3]["text"].encode()).hexdigest()
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    third = doccano.push(edited, "idem", ["idem_a", "idem_b"], prelabel=extract, connection=ds.settings())
    assert (third["created"], third["changed"], third["changed_ids"]) == (0, 2, ["idem-0003"])
    pid = third["projects"]["idem · idem_a"]["project_id"]
    texts = {ex["meta"]["annotate"]["id"]: ex["text"] for ex in client.pages(f"projects/{pid}/examples")}
    assert not texts["idem-0003"].endswith("Edited.") and len(texts) == 12

    # A project setting changed in the UI is put back; a missing label type is re-created.
    client.patch(f"projects/{pid}", {"resourcetype": "SequenceLabelingProject", "collaborative_annotation": False})
    wtype = next(t for t in client.get(f"projects/{pid}/span-types") if t["text"] == "WEAPON")
    client.delete(f"projects/{pid}/span-types/{wtype['id']}")
    fourth = doccano.push(docs, "idem", ["idem_a", "idem_b"], connection=ds.settings())
    assert any("collaborative_annotation" in c for c in fourth["setup_changes"])
    assert any("WEAPON" in c for c in fourth["setup_changes"])
    assert client.get(f"projects/{pid}")["collaborative_annotation"] is True


def test_bad_prelabel_is_one_line_naming_the_document(doccano_server, tmp_path):
    from annotate.errors import InputError

    docs = make_docs(tmp_path / "docs.jsonl", 3, "badpre")

    def bogus(text):
        return [(0, 3, "BOGUS")]

    with pytest.raises(InputError, match=r"docs.jsonl:1: prelabel of 'badpre-0000': label 'BOGUS' is not in the schema"):
        doccano.push(docs, "badpre", ["bp_a"], prelabel=bogus, connection=doccano_server.settings())
    with pytest.raises(InputError, match="is outside the text"):
        doccano.push(docs, "badpre", ["bp_a"], prelabel=lambda t: [(0, 10_000, "ACTOR")],
                     connection=doccano_server.settings())


def test_rerun_after_lost_journal_makes_no_duplicates(doccano_server, tmp_path):
    """A push whose journal is gone (another machine, a crash before it was written) reconciles by document id."""
    ds = doccano_server
    docs = make_docs(tmp_path / "docs.jsonl", 8, "nojournal")
    first = doccano.push(docs, "nojournal", ["nj_a"], prelabel=extract, connection=ds.settings())
    pid = first["projects"]["nojournal · nj_a"]["project_id"]
    journal = doccano.journal_dir(ds.settings()) / f"project-{pid}.json"
    assert journal.is_file()
    journal.unlink()
    again = doccano.push(docs, "nojournal", ["nj_a"], prelabel=extract, connection=ds.settings())
    assert (again["created"], again["present"]) == (0, 8)
    client, _ = doccano.connect(ds.settings())
    assert client.count(pid) == 8
    got = spans_by_doc(ds, "nojournal", tmp_path)  # origins now come from the server, example by example
    for r in read_jsonl(docs):
        assert got[(r["id"], "nj_a")] == sorted(extract(r["text"]))


def test_server_killed_mid_push_then_rerun_completes(doccano_server, tmp_path):
    ds = doccano_server
    n = 25
    docs = make_docs(tmp_path / "docs.jsonl", n, "kill")
    killed = []

    def kill_after_first_chunk(stage, done, total):
        if done > 0 and not killed:
            killed.append(ds.kill())

    try:
        with pytest.raises(DoccanoError) as e:
            doccano.push(docs, "kill", ["kill_a", "kill_b"], prelabel=extract, connection=ds.settings(),
                         chunk_size=10, progress=kill_after_first_chunk)
        assert "cannot reach Doccano" in str(e.value) and "\n" not in str(e.value)
    finally:
        ds.restart()
    client, _ = doccano.connect(ds.settings())
    projects = {p["name"]: p["id"] for p in doccano.list_projects(client) if p["name"].startswith("kill · ")}
    assert sorted(projects) == ["kill · kill_a", "kill · kill_b"]
    # The first chunk landed; the second was queued when the web server died: the worker, still
    # running, may import it after the crash. The rerun waits for it, then reconciles by document id.
    assert all(client.count(pid) >= 10 for pid in projects.values())

    rerun = doccano.push(docs, "kill", ["kill_a", "kill_b"], prelabel=extract, connection=ds.settings(), chunk_size=10)
    assert rerun["failed"] == 0 and rerun["created"] + rerun["present"] == 2 * n and rerun["present"] >= 20
    for pid in projects.values():
        ids = [ex["meta"]["annotate"]["id"] for ex in client.pages(f"projects/{pid}/examples")]
        assert len(ids) == n and len(set(ids)) == n
    got = spans_by_doc(ds, "kill", tmp_path)
    assert len(got) == 2 * n
    for r in read_jsonl(docs):
        for ann in ("kill_a", "kill_b"):
            assert got[(r["id"], ann)] == sorted(extract(r["text"]))


def test_server_killed_mid_pull_leaves_no_snapshot(doccano_server, tmp_path):
    ds = doccano_server
    docs = make_docs(tmp_path / "docs.jsonl", 6, "pullkill")
    doccano.push(docs, "pullkill", ["pk_a", "pk_b"], prelabel=extract, connection=ds.settings())
    out = tmp_path / "annotations"

    def kill(stage, done, total):
        if done == 1:
            ds.kill()

    try:  # the export path (a remote server's; a local pull reads the database and needs no web server after listing)
        with pytest.raises(DoccanoError, match="cannot reach Doccano"):
            doccano.pull("pullkill", out, connection={**ds.settings(), "local": False}, progress=kill)
    finally:
        ds.restart()
    assert not (out / "pullkill").exists() or list((out / "pullkill").iterdir()) == []
    snap = doccano.pull("pullkill", out, connection=ds.settings())
    assert snap["records"] == 12 and [p.name for p in (out / "pullkill").iterdir()] == [Path(snap["snapshot"]).name]


def test_cut_database_read_leaves_no_snapshot(doccano_server, tmp_path, monkeypatch):
    """A local pull whose database read stops early (the reader dies: its output lacks the end line) fails
    with one clear error and writes nothing; the next pull completes."""
    import contextlib
    import io

    from annotate import server

    ds = doccano_server
    docs = make_docs(tmp_path / "docs.jsonl", 4, "cutread")
    doccano.push(docs, "cutread", ["cr_a"], prelabel=extract, connection=ds.settings())
    real = server.read_database

    @contextlib.contextmanager
    def cut(mode, ids, state_dir=None):
        with real(mode, ids, state_dir) as fh:
            lines = fh.readlines()
        assert mode != "dump" or json.loads(lines[-1]) == {"end": 4}
        yield io.BytesIO(b"".join(lines[:-2] if mode == "dump" else lines))

    monkeypatch.setattr(server, "read_database", cut)
    out = tmp_path / "annotations"
    with pytest.raises(DoccanoError, match="stopped before its end"):
        doccano.pull("cutread", out, connection=ds.settings())
    assert not (out / "cutread").exists() or list((out / "cutread").iterdir()) == []
    monkeypatch.setattr(server, "read_database", real)
    snap = doccano.pull("cutread", out, connection=ds.settings())
    assert snap["pull_path"] == "database" and snap["records"] == 4


def test_cli_push_and_pull(doccano_server, tmp_path):
    docs = make_docs(tmp_path / "docs.jsonl", 3, "cli")
    runner = CliRunner()
    first = runner.invoke(app, ["push", "--project", "cli", "--annotators", "cli_a", str(docs)])
    assert first.exit_code == 0, first.output
    assert "cli · cli_a" in first.output and "created" in first.output
    again = runner.invoke(app, ["push", "--project", "cli", "--annotators", "cli_a", str(docs)])
    assert again.exit_code == 0 and "│ 0 " in again.output.replace("┃", "│")
    pulled = runner.invoke(app, ["pull", "--project", "cli", "--out", str(tmp_path / "ann")])
    assert pulled.exit_code == 0, pulled.output
    snaps = list((tmp_path / "ann" / "cli").iterdir())
    assert len(snaps) == 1 and (snaps[0] / "manifest.json").is_file()
    missing = runner.invoke(app, ["pull", "--project", "no-such-project", "--out", str(tmp_path / "ann")])
    assert missing.exit_code == 2 and "no Doccano project" in missing.output


def test_cli_server_unreachable_is_one_line(tmp_path, monkeypatch):
    docs = make_docs(tmp_path / "docs.jsonl", 1, "down")
    monkeypatch.setenv("DOCCANO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DOCCANO_TOKEN", "not-a-token")
    result = CliRunner().invoke(app, ["push", "--project", "x", str(docs)])
    assert result.exit_code == 1
    assert "cannot reach Doccano at http://127.0.0.1:9" in result.output and "Traceback" not in result.output


def test_failed_database_read_falls_back_to_the_export(doccano_server, tmp_path, monkeypatch):
    """If the database read itself fails (the reader exits non-zero, e.g. SQLite not in WAL mode),
    pull takes Doccano's export instead, says so, and gets the same body."""
    import contextlib

    from annotate import server

    ds = doccano_server
    docs = make_docs(tmp_path / "docs.jsonl", 3, "fallback")
    doccano.push(docs, "fallback", ["fb_a"], prelabel=extract, connection=ds.settings())
    good = doccano.pull("fallback", tmp_path / "a", connection=ds.settings())
    real = server.read_database

    @contextlib.contextmanager
    def failing(mode, ids, state_dir=None):
        if mode == "dump":
            raise server.ServerError("reading the Doccano database (dump) failed (exit 3)")
        with real(mode, ids, state_dir) as fh:
            yield fh

    monkeypatch.setattr(server, "read_database", failing)
    snap = doccano.pull("fallback", tmp_path / "b", connection=ds.settings())
    assert snap["pull_path"] == "export" and "the database read failed" in snap["pull_path_note"]
    assert snap["fingerprint"] == good["fingerprint"] and snap["body_sha256"] == good["body_sha256"]
