"""The exception tree of aipctl.

Every error a user can cause or meet derives from :class:`AipctlError`; the CLI maps the tree to
exit codes in one place (``aipctl.cli.errors``)::

    AipctlError                      exit 1 unless stated
    ├── UsageError                   exit 2  bad flags, missing files, refused unsafe actions
    ├── InventoryError               exit 2  one or more problems in the inventory, each with file:line
    ├── TargetError                  exit 1  cannot reach or identify the AWS target / emulator
    ├── AwsError                     exit 1  an AWS API call failed (mapped from botocore in aipctl.aws only)
    │   └── AwsAccessDenied
    ├── PlanConflict                 exit 1  live state blocks the plan (e.g. an unmanaged AIP holds a name)
    ├── PartialBrake                 exit 1  braked, but IAM does not deny yet for some principals (anti-bypass missing)
    ├── AlertUndelivered             exit 1  ``guard test-alert``: an alert target did not take the alert
    ├── ApplyFailed                  exit 1  some changes of an apply failed; carries the per-change results
    ├── BrakeEngaged                 exit 1  ``attach``: the caller's AIP is braked; the call never left the process
    ├── LimitExceeded                exit 1  an in-path limit (rpm, tpm, daily_usd, tier) refused a runtime call
    └── WiringError                  exit 1  a caller cannot be wired to its AIPs
        ├── UnknownCaller                    no AIP is tagged for this caller (or tenant)
        └── UnknownModelForCaller            ``attach(strict=True)``: the model id names none of the caller's AIPs

botocore's ``ClientError`` is translated to :class:`AwsError` at the adapter boundary
(``aipctl.aws``) with ``raise AwsError(...) from exc`` and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class AipctlError(Exception):
    """Root of all aipctl errors. ``hint`` tells the user what to do next."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(AipctlError):
    """The command line or the environment asks for something aipctl will not do."""

    exit_code = 2


@dataclass(frozen=True)
class InventoryProblem:
    """One problem in an inventory file, located at ``file:line`` and a dotted field path."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class InventoryError(AipctlError):
    """The inventory is invalid; ``problems`` lists every problem found, sorted by line."""

    exit_code = 2

    def __init__(self, problems: Sequence[InventoryProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.field))
        count = len(self.problems)
        head = f"invalid inventory ({count} problem{'s' if count != 1 else ''})"
        super().__init__(head + "\n" + "\n".join(f"  {p}" for p in self.problems))


class TargetError(AipctlError):
    """The target (real AWS or the emulator) cannot be used."""


class AwsError(AipctlError):
    """An AWS API call failed. ``code`` is the AWS error code (``ThrottlingException`` …)."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        operation: str,
        code: str,
        resource: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.service = service
        self.operation = operation
        self.code = code
        self.resource = resource


class AwsAccessDenied(AwsError):
    """The credentials in use lack a permission (``aipctl iam policy`` prints what is needed)."""


class PlanConflict(AipctlError):
    """Live state prevents a safe plan; nothing was changed."""


class PartialBrake(AipctlError):
    """The brake is on for a caller's AIPs, but some of its principals can still call models directly."""


class AlertUndelivered(AipctlError):
    """An alert target did not take an alert (``guard test-alert``)."""


class ApplyFailed(AipctlError):
    """Some changes failed; the others were applied. Re-running ``apply`` converges."""

    def __init__(self, message: str, *, failures: Sequence[tuple[str, str]]) -> None:
        super().__init__(message, hint="fix the cause and run `aipctl apply` again: it only redoes what is missing")
        self.failures = list(failures)


class BrakeEngaged(AipctlError):
    """``aipctl.attach``: the caller's AIP carries ``aipctl:brake``; the call was refused before it left the process."""

    def __init__(self, caller: str, aip: str, at: str, reason: str) -> None:
        super().__init__(
            f"caller {caller!r} is braked since {at} ({reason or 'no reason given'}): {aip} is not called",
            hint=f"`aipctl release {caller}` lifts the brake",
        )
        self.caller, self.aip, self.at, self.reason = caller, aip, at, reason


class LimitExceeded(AipctlError):
    """An in-path limit refused a runtime call before it reached Bedrock.

    ``limit`` is ``rpm``, ``tpm``, ``daily_usd`` or ``tier``; ``retry_after`` the seconds until the
    call would be admitted (for ``daily_usd``: until the next UTC day).
    """

    def __init__(self, caller: str, limit: str, retry_after: float, detail: str) -> None:
        super().__init__(
            f"{caller}: {detail}; refused before calling Bedrock",
            hint=f"retry in {retry_after:.1f} s" if limit != "daily_usd" else "the cap resets at 00:00 UTC",
        )
        self.caller = caller
        self.limit = limit
        self.retry_after = retry_after


class WiringError(AipctlError):
    """A caller's code cannot be routed to its AIPs."""


class UnknownCaller(WiringError):
    """No AIP is tagged for this caller (or tenant)."""


class UnknownModelForCaller(WiringError):
    """``attach(strict=True)``: the model id names no AIP of the caller, so the call would bypass it."""
