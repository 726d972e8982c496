"""The README's five-minute tour is what the commands print today (scripts/readme_tour.py wrote it).

Reruns every tour command that does not start or stop a server, in a scratch folder against the
suite's Doccano, and compares exit status and output with the README's tour section, masking only
what differs between runs (snapshot times, pids, the port: readme_tour.normalize).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tour():
    spec = importlib.util.spec_from_file_location("readme_tour", ROOT / "scripts" / "readme_tour.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("readme_tour", module)  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_readme_tour_matches_what_the_commands_print(doccano_server, tmp_path):
    tour = _tour()
    readme = tour.readme_steps((ROOT / "README.md").read_text(encoding="utf-8"))
    # the README shows exactly the script's commands, in order (the snapshot folder masked)
    assert [tour.normalize(r["command"]) for r in readme] == \
        [tour.normalize(s.command.replace(tour.SNAP, "corpus/annotations/idlib/00000000T000000Z")) for s in tour.STEPS]
    work = tmp_path / "work"
    work.mkdir()
    tour.prepare(work)
    ran = tour.run_steps(work, doccano_server.state_dir, own_server=False)
    assert len(ran) == sum(not s.server for s in tour.STEPS) >= 9
    shown = {tour.normalize(r["command"]): r for r in readme}
    for step in ran:
        documented = shown[tour.normalize(step["command"])]
        assert step["exit"] == step["expected_exit"] == documented["exit"], step["output"]
        assert tour.normalize(step["output"]) == tour.normalize(documented["output"]), \
            f"README tour out of date at `{step['command']}`: run scripts/readme_tour.py"
