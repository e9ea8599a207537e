"""Terminal output: data on stdout (tables or JSON), everything about the run on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Piped output is for other programs and files: never truncate a table to 80 columns there.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, soft_wrap=True)


def banner(info: Mapping[str, str]) -> None:
    """Say which account/Region/endpoint a command acts on (always, before it acts)."""
    parts = [
        f"[bold]{info['target']}[/]",
        f"account {info['account']}",
        f"region {info['region']}",
        f"endpoint {info['endpoint']}",
    ]
    if "state" in info:
        parts.append(f"state {info['state']}")
    err.print("[dim]aipctl →[/] " + " · ".join(parts), highlight=False)


def announce(target: Any) -> dict[str, str]:
    """Banner plus anything the user must know about the target; returns what was shown."""
    info = target.describe()
    banner(info)
    for warning in target.warnings:
        warn(warning)
    return dict(info)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}", highlight=False)


def note(message: str) -> None:
    err.print(message, highlight=False)


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout, as ``json.dumps(data, indent=2, default=str)`` writes it but through
    orjson (a 1,000-caller report's 2 MB in a fifth of the time): what is not plain JSON (dates, Decimals,
    dataclasses) goes through ``str``. Output with non-ASCII text is json's (``\\u`` escapes, safe on any
    terminal encoding), as is what orjson refuses (integers past 64 bits)."""
    try:
        text = orjson.dumps(data, default=str, option=_ORJSON_AS_JSON).decode()
    except TypeError:
        text = ""
    if not text.isascii() or not text:
        text = json.dumps(data, indent=2, default=str, sort_keys=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


#: orjson options that keep ``json.dumps(indent=2, default=str)``'s output: str() for datetimes and dataclasses
#: (orjson would write its own forms), any dict key type (json turns int keys into strings).
_ORJSON_AS_JSON = (
    orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
)


class _Bar:
    """A :class:`aipctl.progress.Progress` drawn as a Rich bar; ``prefix`` goes before every task."""

    def __init__(self, progress: Progress | None, task: Any, prefix: str = "") -> None:
        self._progress, self._task, self._prefix = progress, task, prefix

    def __call__(self, task: str, done: int = 0, total: int | None = None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=self._prefix + task, completed=done, total=total)


@contextmanager
def progress_bar(description: str, total: int | None = None, *, prefix: str = "") -> Iterator[_Bar]:
    """A progress bar on stderr when it is a terminal; silent otherwise (CI logs stay clean).

    The bar is a :class:`aipctl.progress.Progress`: pass it to anything that takes ``progress=``.
    """
    if not err.is_terminal:
        yield _Bar(None, None, prefix)
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    with progress:
        task = progress.add_task(prefix + description, total=total)
        yield _Bar(progress, task, prefix)
