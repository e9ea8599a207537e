"""aipctl: give every caller and tenant of an Amazon Bedrock account its own cost line, metrics,
limits and budget, using Application Inference Profiles.

The public Python API grows with the project; the command line is ``aipctl``.
"""

from aipctl._exceptions import (
    AipctlError,
    AlertUndelivered,
    ApplyFailed,
    AwsAccessDenied,
    AwsError,
    BrakeEngaged,
    InventoryError,
    LimitExceeded,
    PartialBrake,
    PlanConflict,
    TargetError,
    UnknownCaller,
    UnknownModelForCaller,
    UsageError,
    WiringError,
)

__version__ = "0.1.0"

#: Imported on first use, so that `import aipctl` (and `aipctl --help`) stays fast.
_LAZY = {
    "Progress": "aipctl.progress",
    "Project": "aipctl.project",
    "attach": "aipctl.wiring",
    "cost_of": "aipctl.wiring",
    "describe": "aipctl.wiring",
    "for_tenant": "aipctl.integrations",
    "resolve": "aipctl.wiring",
    "Resolver": "aipctl.wiring",
    "session_for": "aipctl.sessions",
}

__all__ = [
    "AipctlError",
    "AlertUndelivered",
    "ApplyFailed",
    "AwsAccessDenied",
    "AwsError",
    "BrakeEngaged",
    "InventoryError",
    "LimitExceeded",
    "PartialBrake",
    "PlanConflict",
    "Progress",
    "Project",
    "Resolver",
    "TargetError",
    "UnknownCaller",
    "UnknownModelForCaller",
    "UsageError",
    "WiringError",
    "__version__",
    "attach",
    "cost_of",
    "describe",
    "for_tenant",
    "resolve",
    "session_for",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'aipctl' has no attribute {name!r}")
