"""A release's doccano.jsonl really imports into Doccano 1.8.4 (the session's real server) and comes back
with the same spans and relations: UTF-16 offsets, nested spans, relations, our id under ``annotate``."""

import json

from annotate import doccano
from annotate.convert import convert
from annotate.export import export
from annotate.schema import load_labels
from gold_fixtures import gold, write_jsonl

T1 = "At least 544 civilians were killed in Idlib, rights groups said."
T2 = "🔥👨🏻‍🚒 Russian jets hit Hama, the SNHR said."       # astral characters shift UTF-16 offsets


def _import(client: doccano.Client, pid: int, body: bytes) -> None:
    upload_id = client.call("POST", "fp/process/", files={"filepond": ("doccano.jsonl", body, "application/octet-stream")},
                            headers={"Accept": "*/*"}, what="upload").text.strip()
    task = client.post(f"projects/{pid}/upload", {"uploadIds": [upload_id], "format": "JSONL",
                                                  "task": "RelationExtraction", "column_data": "text",
                                                  "column_label": "label", "encoding": "utf_8"})["task_id"]
    status = client.wait_task(task, "import of doccano.jsonl")
    assert not (status or {}).get("error"), status


def test_release_doccano_jsonl_round_trips_through_doccano(doccano_server, tmp_path):
    records = [
        gold("d1", T1, [("At least 544 civilians", "FIGURE"), ("544 civilians", "FIGURE"), ("Idlib", "LOCATION"),
                        ("rights groups", "ACTOR"), ("said", "ATTRIBUTION")],
             [(1, 5, "REPORTED_BY"), (5, 4, "SOURCE")]),
        gold("d2", T2, [("Russian jets", "ACTOR"), ("Hama", "LOCATION"), ("SNHR", "ACTOR"), ("said", "ATTRIBUTION")],
             [(4, 3, "SOURCE")]),
    ]
    rel = export(write_jsonl(tmp_path / "g.jsonl", records), "0.1.0", tmp_path / "gold")["release"]
    client, _ = doccano.connect(doccano_server.settings())
    project, _ = doccano.ensure_project(client, "release-import-test", load_labels(), "test")
    client.patch(f"projects/{project['id']}", {"resourcetype": project["resourcetype"], "allow_overlapping": True})
    _import(client, project["id"], (tmp_path / "gold" / "v0.1.0" / "doccano.jsonl").read_bytes())
    exported = doccano.read_export(client, project, doccano.start_exports(client, [project])[project["id"]])
    path = write_jsonl(tmp_path / "back.jsonl", exported)
    back = {r["id"]: r for r in convert(path, "doccano")["records"]}     # ids from the `annotate` meta key

    def keyed(rec):
        by_id = {s["id"]: (s["start"], s["end"], s["label"]) for s in rec["spans"]}
        return (sorted(by_id.values()),
                sorted((by_id[r["from"]], by_id[r["to"]], r["label"]) for r in rec["relations"]))

    released = [json.loads(x) for x in (tmp_path / "gold" / "v0.1.0" / "gold.jsonl").read_text().splitlines()]
    assert rel.endswith("v0.1.0") and set(back) == {"d1", "d2"}
    for rec in released:
        assert back[rec["id"]]["text"] == rec["text"]
        assert keyed(back[rec["id"]]) == keyed(rec)
