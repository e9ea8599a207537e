"""Inventory: the YAML file that lists callers/tenants, their models, identities, budgets and limits."""

from aipctl.inventory.loader import (
    DEFAULT_INVENTORY,
    DesiredProfile,
    LoadedInventory,
    load_inventory,
    parse_inventory,
)
from aipctl.inventory.model import Caller, Inventory, ModelSource

__all__ = [
    "DEFAULT_INVENTORY",
    "Caller",
    "DesiredProfile",
    "Inventory",
    "LoadedInventory",
    "ModelSource",
    "load_inventory",
    "parse_inventory",
]


def example_inventory() -> str:
    """The commented example written by ``aipctl init``."""
    from importlib.resources import files

    return (files("aipctl.inventory") / "example.yaml").read_text(encoding="utf-8")
