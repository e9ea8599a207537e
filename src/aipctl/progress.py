"""One progress protocol for long work: core code reports, the CLI (or a test) decides how to show it.

Core code never prints. Anything slow takes a ``progress`` callable and calls it with what it is
doing, and, where it can count, how far it is::

    def read_everything(progress: Progress = NO_PROGRESS) -> None:
        progress("reading Cost Explorer")            # a phase starts
        for done, item in enumerate(items, 1):
            progress("reading tags", done, len(items))  # counted work

The command line passes a Rich progress bar (``aipctl.cli.console.progress_bar``); tests pass a list's
``append`` or nothing.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def __call__(self, task: str, done: int = 0, total: int | None = None) -> None:
        """``task`` is what is happening now; ``done`` of ``total`` units, when countable."""


def _silent(task: str, done: int = 0, total: int | None = None) -> None:
    return None


#: The default: report nothing.
NO_PROGRESS: Progress = _silent
