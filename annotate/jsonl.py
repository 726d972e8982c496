"""Streaming JSONL in and out, and atomic file writes.

Reading yields one record at a time with its 1-based line number, so memory stays flat.
Writing goes to a temporary file in the target's folder that replaces the target only once
everything is written and flushed: a crash or an error never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from .errors import InputError


def dumps(record: Any) -> str:
    """One canonical JSON line: UTF-8 as is, compact, keys in the order given."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def iter_jsonl(path: str | Path, *, skip_invalid: bool = False, problems: list | None = None
               ) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, record)`` for every non-blank line of a JSONL file.

    A line that is not JSON raises :class:`InputError` naming the file and line, unless
    ``skip_invalid`` is set, in which case the error is appended to ``problems`` and the line skipped.
    """
    path = Path(path)
    try:
        fh = open(path, "r", encoding="utf-8-sig", newline=None)
    except FileNotFoundError:
        raise InputError.at(path, None, "no such file") from None
    except IsADirectoryError:
        raise InputError.at(path, None, "is a folder, expected a JSONL file") from None
    with fh:
        lineno = 0
        while True:
            try:
                line = fh.readline()
            except UnicodeDecodeError as err:
                raise InputError.at(path, lineno + 1, f"not UTF-8 ({err.reason} at byte {err.start})") from None
            if not line:
                break
            lineno += 1
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as err:
                problem = InputError.at(path, lineno, f"not valid JSON ({err.msg}, column {err.colno})")
                if not skip_invalid:
                    raise problem from None
                if problems is not None:
                    problems.append(problem)


def read_jsonl(path: str | Path) -> Iterator[Any]:
    """Yield the records of a JSONL file (see :func:`iter_jsonl`)."""
    for _, record in iter_jsonl(path):
        yield record


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8",
                perms: int = 0o644) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on clean exit it is fsynced and renamed onto ``path``
    with permissions ``perms`` (0o600 for secrets: the temporary file is created 0600 from the start).

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        binary = "b" in mode
        with os.fdopen(fd, mode, encoding=None if binary else encoding, newline=None if binary else "\n") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, perms)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_jsonl(path: str | Path, records: Iterable[Any]) -> int:
    """Write records as JSONL atomically, streaming; return how many were written."""
    n = 0
    with atomic_open(path) as fh:
        for record in records:
            fh.write(dumps(record))
            fh.write("\n")
            n += 1
    return n


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_open(path) as fh:
        fh.write(text)


def write_json(path: str | Path, data: Any) -> None:
    """Write pretty JSON atomically (stable: two-space indent, trailing newline)."""
    write_text(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def sha256_file(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def display_path(path: str | Path) -> str:
    """A path fit for reports and manifests: relative to the current folder when inside it, else as
    given when relative, else just the file name (never this machine's absolute path)."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.as_posix() if not p.is_absolute() else p.name
