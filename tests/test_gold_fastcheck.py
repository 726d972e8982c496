"""The fast structural pre-check in front of jsonschema must never accept what the JSON Schema rejects."""

import copy

import pytest

from annotate.gold import record_errors
from annotate.schema import schema_errors
from gold_fixtures import line

GOLD = {"id": "d1", "text": "Rebels hit Idlib.", "meta": {"a": 1},
        "spans": [{"id": 1, "start": 0, "end": 6, "label": "ACTOR", "text": "Rebels"},
                  {"id": "x", "start": 11, "end": 16, "label": "LOCATION"}],
        "relations": [{"from": 1, "to": "x", "label": "SOURCE"}]}
SNAP = line("d1", "Rebels hit Idlib.", "a1", [(1, "Rebels", "ACTOR"), (2, "Idlib", "LOCATION")], [(1, 2, "SOURCE")])

BAD_VALUES = [None, True, False, -1, 0, 1, 1.0, 1.5, "", "s", [], {}, [1], {"a": 1}]


def _paths(obj, prefix=()):
    """Every key/index path in a JSON value."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _mutations(base):
    for path in _paths(base):
        if not path:
            continue
        for value in BAD_VALUES:
            rec = copy.deepcopy(base)
            cur = rec
            for p in path[:-1]:
                cur = cur[p]
            cur[path[-1]] = value
            yield path, value, rec
        rec = copy.deepcopy(base)
        cur = rec
        for p in path[:-1]:
            cur = cur[p]
        del cur[path[-1]]
        yield path, "<deleted>", rec


@pytest.mark.parametrize("base,kind", [(GOLD, "gold"), (SNAP, "snapshot.schema.json")])
def test_fast_check_agrees_with_jsonschema(base, kind):
    assert record_errors(base, kind) == [] and schema_errors(base, kind) == []
    n_invalid = 0
    for path, value, rec in _mutations(base):
        slow = schema_errors(rec, kind)
        fast = record_errors(rec, kind)
        assert bool(fast) == bool(slow), (path, value, slow)
        n_invalid += bool(slow)
    assert n_invalid > 50          # the mutations really exercise the schema
