"""Resource-policy statements aipctl owns, kept by ``Sid`` beside everything else in a policy."""

from __future__ import annotations

from typing import Any


def with_statement(policy: dict[str, Any] | None, statement: dict[str, Any]) -> dict[str, Any]:
    """``policy`` with ``statement`` in place of any statement of the same Sid (the others kept)."""
    kept = [s for s in _statements(policy) if s.get("Sid") != statement["Sid"]]
    return {"Version": (policy or {}).get("Version", "2012-10-17"), "Statement": [*kept, statement]}


def has_statement(policy: dict[str, Any] | None, statement: dict[str, Any]) -> bool:
    return any(s == statement for s in _statements(policy))


def _statements(policy: dict[str, Any] | None) -> list[dict[str, Any]]:
    found = (policy or {}).get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)
