"""The one place where aipctl's exceptions become messages and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from aipctl._exceptions import AipctlError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def run_guarded(main: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """Run a click command in non-standalone mode and map every outcome to an exit code."""
    import click

    try:
        result = main(*args, standalone_mode=False, **kwargs)
    except AipctlError as exc:
        from aipctl.cli.console import err

        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err.print(f"[dim]hint:[/] {exc.hint}", highlight=False)
        return exc.exit_code
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    return result if isinstance(result, int) else EXIT_OK
