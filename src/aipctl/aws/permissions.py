"""Every AWS call site declares the IAM actions it needs.

``@requires("bedrock:ListInferenceProfiles")`` records the actions on the function; ``aipctl iam
policy`` assembles them into a least-privilege policy per command, and a test walks the adapters to
fail when a method that calls AWS declares nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

#: "module.qualname" -> IAM actions
REGISTRY: dict[str, tuple[str, ...]] = {}


def requires(*actions: str) -> Callable[[F], F]:
    def mark(func: F) -> F:
        REGISTRY[f"{func.__module__}.{func.__qualname__}"] = actions
        func.__iam_actions__ = actions  # type: ignore[attr-defined]
        return func

    return mark


def actions_for(*funcs: Callable[..., object]) -> list[str]:
    out: set[str] = set()
    for func in funcs:
        out.update(getattr(func, "__iam_actions__", ()))
    return sorted(out)
