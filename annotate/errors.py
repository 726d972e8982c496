"""Errors that reach the user as one clear line and an exit status (never a traceback).

Exit statuses, the same for every command: 0 ok, 1 a check failed (validate, lint, verify,
a score gate), 2 bad input or usage.
"""

from __future__ import annotations

from pathlib import Path


class AnnotateError(Exception):
    """An error meant for the user: ``str(err)`` is the one line to print."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class InputError(AnnotateError):
    """Bad input: a file that can't be read or parsed, an invalid record, bad options."""

    exit_code = 2

    @classmethod
    def at(cls, path: str | Path, line: int | None, message: str, **kw) -> "InputError":
        where = f"{path}:{line}" if line is not None else f"{path}"
        return cls(f"{where}: {message}", **kw)


class CheckFailed(AnnotateError):
    """A check ran and found problems (validate, lint, verify, a CI gate)."""

    exit_code = 1
