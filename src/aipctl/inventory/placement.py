"""Where callers run: the accounts and Regions of an inventory, and the one-account view of each.

An inventory without ``accounts:`` means one account (aipctl's credentials') and its ``region``; callers may
add Regions with ``region:``. With ``accounts:`` every caller is placed in accounts (``account:``, default:
the only one) and Regions (``region:``, default: each account's first). A :class:`Placement` is one account ×
Region; :func:`project` gives the inventory as that placement sees it, which is what plan, apply and every
single-account command already take::

    for placement in placements(loaded.inventory):
        here = project(loaded, placement)        # region = placement.region, only the callers placed there
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aipctl.inventory import rules

if TYPE_CHECKING:
    from aipctl.inventory.loader import LoadedInventory
    from aipctl.inventory.model import Caller, Inventory


@dataclass(frozen=True)
class Placement:
    """One account × Region the inventory acts in."""

    #: The alias of ``accounts:``; "" for the one account of an inventory without it.
    account: str
    region: str
    account_id: str | None = None
    role: str | None = None
    #: The organization's management account (consolidated billing is read and set there).
    billing: bool = False

    @property
    def label(self) -> str:
        if not self.account:
            return self.region
        return f"{self.account} ({self.account_id}) {self.region}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.region)


#: In an organization inventory, these keys of a tenant place it (``tenants: {acme: {account: prod}}``); they are
#: not session tags.
TENANT_PLACEMENT_KEYS = ("account", "region")


def tenant_in(tags: dict[str, str], placement: Placement) -> bool:
    """Whether a tenant (its ``account``/``region`` keys, either optional) runs in ``placement``."""
    return (
        tags.get("account", placement.account) == placement.account and tags.get("region", placement.region) == placement.region
    )


def account_regions(inv: Inventory, alias: str) -> list[str]:
    """The Regions aipctl manages in account ``alias`` (default: the inventory's ``region``)."""
    return list(inv.accounts[alias].regions) or [inv.region]


def placements(inv: Inventory) -> tuple[Placement, ...]:
    """Every account × Region the inventory names, in file order: where plan looks and prune may act."""
    if not inv.accounts:
        regions = [inv.region] + [r for c in inv.callers.values() for r in c.region]
        return tuple(Placement("", r) for r in dict.fromkeys(regions))
    return tuple(
        Placement(alias, region, account.id, account.role, account.billing)
        for alias, account in inv.accounts.items()
        for region in account_regions(inv, alias)
    )


def caller_accounts(inv: Inventory, caller: Caller) -> list[str]:
    """The account aliases of a caller ([""] without ``accounts:``); unknown aliases are the loader's to report."""
    if not inv.accounts:
        return [""]
    if caller.account:
        return list(dict.fromkeys(caller.account))
    return list(inv.accounts) if len(inv.accounts) == 1 else []


def caller_placements(inv: Inventory, name: str) -> list[tuple[str, str]]:
    """(account alias, Region) of each placement of caller ``name``."""
    caller = inv.callers[name]
    out = []
    for alias in caller_accounts(inv, caller):
        if alias and alias not in inv.accounts:
            continue
        regions = caller.region or ([inv.region] if not alias else account_regions(inv, alias)[:1])
        out += [(alias, region) for region in regions]
    return out


def model_in(inv: Inventory, alias: str, region: str) -> str | None:
    """The model id alias ``alias`` stands for in ``region``: its ``region_models`` entry there, else the geography rule."""
    override = inv.region_models.get(region, {}).get(alias)
    if override is not None:
        return override
    value = inv.models.get(alias)
    return None if value is None else model_id_in(value, region)


def model_id_in(value: str, region: str) -> str | None:
    """An inventory model entry as ``region`` calls it: system-defined profile ids take the Region's geography."""
    if not value.startswith("arn:") and rules.is_system_profile_id(value):
        return rules.system_profile_in(value, region)
    return value


def home(inv: Inventory) -> Placement:
    """Where the account-wide setup goes (alert topic, invocation logging, cost tags): the billing account's
    first Region, else the first placement."""
    every = placements(inv)
    return next((p for p in every if p.billing), every[0])


def project(loaded: LoadedInventory, placement: Placement, *, every_caller: bool = False) -> LoadedInventory:
    """The inventory as one placement sees it: its Region, the callers placed there with the model ids that
    Region calls, budgets only at :func:`home` when there is a management account (else where each caller's first
    placement is), account-wide setup only at :func:`home`.

    ``every_caller``: the other callers too, without AIPs there (verify judges their calls in this account)."""
    from aipctl.inventory.loader import LoadedInventory, _desired_profiles
    from aipctl.inventory.model import parse_model_source

    inv = loaded.inventory
    callers = {}
    placed_here = {name for name, _ in loaded.placed.get(placement.key, ())}
    is_home = home(inv).key == placement.key
    # With a management account every budget lives at its home placement: a budget there sees the whole consolidated
    # bill (its filter is the caller's tag), one in a member account only that account's share.
    budgets_home = any(p.billing for p in placements(inv))
    for name, first in loaded.placed.get(placement.key, ()):
        caller = inv.callers[name]
        tenants = {
            tenant: {k: v for k, v in tags.items() if k not in TENANT_PLACEMENT_KEYS}
            for tenant, tags in caller.tenants.items()
            if tenant_in(tags, placement)
        }
        keeps_budget = is_home if budgets_home else first
        callers[name] = caller.model_copy(
            update={"account": [], "region": [], "budget": caller.budget if keeps_budget else None, "tenants": tenants}
        )
    if budgets_home and is_home and not every_caller:
        for name, caller in inv.callers.items():  # placed elsewhere: only their budget is here (no AIPs, alarms, tags)
            if name not in callers and caller.budget is not None:
                callers[name] = caller.model_copy(
                    update={
                        "account": [],
                        "region": [],
                        "models": [],
                        "identities": [],
                        "tenants": {},
                        "limits": None,
                        "attribution": "profile",
                    }
                )
    if every_caller:
        for name, caller in inv.callers.items():
            if name not in callers:
                callers[name] = caller.model_copy(
                    update={
                        "account": [],
                        "region": [],
                        "budget": None,
                        "models": caller.models,
                        "attribution": caller.attribution,
                    }
                )
    models = {alias: model_in(inv, alias, placement.region) or value for alias, value in inv.models.items()}
    here = inv.model_copy(
        update={
            "region": placement.region,
            "accounts": {},
            "callers": callers,
            "models": models,
            "region_models": {},
            "logging": inv.logging if is_home or (inv.logging is not None and inv.logging.per_placement) else None,
            "alerts": inv.alerts if is_home else None,
        }
    )
    sources = {}
    for alias, value in models.items():
        try:
            sources[alias] = parse_model_source(value, placement.region)
        except ValueError:  # an ARN of another Region: the loader refused it for every caller placed here
            continue
    billed_apart = any(p.billing for p in placements(inv))
    cost_tags = None if not billed_apart else (tuple(loaded.cost_tag_keys()) if placement.billing and is_home else ())
    return LoadedInventory(
        loaded.path,
        here,
        sources,
        tuple(d for d in _desired_profiles(here, sources, loaded.document, []) if d.caller in placed_here),
        loaded.document,
        placement=placement,
        cost_tags_here=cost_tags,
        budgeted_elsewhere=frozenset(n for n in placed_here if inv.callers[n].budget is not None and callers[n].budget is None),
    )


def placed_callers(inv: Inventory) -> dict[tuple[str, str], list[tuple[str, bool]]]:
    """Per placement key, its callers in file order, each with whether it is the caller's first placement."""
    out: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for name in inv.callers:
        for index, key in enumerate(caller_placements(inv, name)):
            out.setdefault(key, []).append((name, index == 0))
    return out
