"""aipctl: give every caller and tenant of an Amazon Bedrock account its own cost line, metrics,
limits and budget, using Application Inference Profiles.

The public Python API grows with the project; the command line is ``aipctl``.
"""

from aipctl._exceptions import (
    AipctlError,
    ApplyFailed,
    AwsAccessDenied,
    AwsError,
    InventoryError,
    PlanConflict,
    TargetError,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "AipctlError",
    "ApplyFailed",
    "AwsAccessDenied",
    "AwsError",
    "InventoryError",
    "PlanConflict",
    "TargetError",
    "UsageError",
    "__version__",
]
