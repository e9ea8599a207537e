"""Guards: in-path limits and tiers, anti-bypass IAM, the emergency brake, budgets and alarms."""

from aipctl._exceptions import LimitExceeded

__all__ = ["LimitExceeded"]
