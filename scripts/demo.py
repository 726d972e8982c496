"""`make demo`: the job end to end on the embedded seeds.

For now: ingest seeds/ into a scratch folder (corpus/ is left alone) and validate the result.
The Doccano part (push, label, pull, adjudicate, export, score) arrives with the Doccano issue.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotate.ingest import ingest  # noqa: E402
from annotate.schema import validate_file  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="annotate-demo-") as scratch:
        out = Path(scratch) / "documents.jsonl"
        print(f"1. ingest seeds/ -> {out}")
        result = ingest([ROOT / "seeds"], out)
        for line in result["warnings"] + result["problems"]:
            print(f"   {line}")
        if not result["written"]:
            print("   nothing written")
            return 2
        print(f"   {result['documents']} documents from {result['files']} files, "
              f"{len(result['exact_duplicates'])} exact duplicates")
        for pair in result["near_duplicates"]:
            print(f"   near duplicates: {Path(pair['a_file']).name} ~ {Path(pair['b_file']).name}"
                  f" (similarity {pair['similarity']:.3f})")

        print("2. validate the documents against schemas/document.schema.json")
        problems = validate_file(out, "documents")
        for problem in problems:
            print(f"   {problem}")
        print(f"   {'ok' if not problems else f'{len(problems)} problems'}")

    print("\nNOTE: this demo runs ingest + validate only. The Doccano part (push to a local Doccano,\n"
          "label, pull, adjudicate, export a gold release, score) arrives with the Doccano issue.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
