"""Load and check an inventory file; every problem is reported with file:line and field."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from aipctl._exceptions import InventoryError, InventoryProblem, UsageError
from aipctl.inventory import rules
from aipctl.inventory._yaml import MAX_BYTES, LocatedDocument, Path, dotted_path, load_located
from aipctl.inventory.model import Inventory, ModelSource, parse_model_source
from aipctl.inventory.placement import Placement, account_regions, caller_accounts, caller_placements, model_in
from aipctl.inventory.placement import placements as all_placements

DEFAULT_INVENTORY = "aipctl.yaml"


@dataclass(frozen=True)
class DesiredProfile:
    """One AIP the inventory asks for: a caller × model alias."""

    caller: str
    alias: str
    name: str
    source: ModelSource
    description: str
    tags: tuple[tuple[str, str], ...]

    @property
    def tag_map(self) -> dict[str, str]:
        return dict(self.tags)


@dataclass(frozen=True)
class LoadedInventory:
    """A valid inventory with where it came from, its model sources and the AIPs it asks for."""

    path: str
    inventory: Inventory
    sources: dict[str, ModelSource]
    profiles: tuple[DesiredProfile, ...]
    document: LocatedDocument
    #: Set on the one-account view of an organization inventory (:func:`aipctl.inventory.placement.project`).
    placement: Placement | None = None
    #: The cost-allocation tags to activate here, when billing is consolidated elsewhere (None: the callers').
    cost_tags_here: tuple[str, ...] | None = None
    #: Callers placed here whose budget is made in another placement: their AIPs here still get the alarms a
    #: budgeted caller's AIPs get (:func:`aipctl.plan.guards.desired_alarms`).
    budgeted_elsewhere: frozenset[str] = frozenset()

    @property
    def placements(self) -> tuple[Placement, ...]:
        """Every account × Region the inventory names (one, for today's format without ``accounts:``)."""
        from aipctl.inventory.placement import placements

        return placements(self.inventory)

    @property
    def is_fleet(self) -> bool:
        """Acts in more than one account or Region, or in an account named by ``accounts:``: plan/apply run per
        placement (:mod:`aipctl.fleet`)."""
        return self.placement is None and (bool(self.inventory.accounts) or len(self.placements) > 1)

    @functools.cached_property
    def placed(self) -> dict[tuple[str, str], list[tuple[str, bool]]]:
        """Per (account alias, Region): its callers, each with whether that is the caller's first placement."""
        from aipctl.inventory.placement import placed_callers

        return placed_callers(self.inventory)

    def project(self, placement: Placement, *, every_caller: bool = False) -> LoadedInventory:
        from aipctl.inventory.placement import project

        return project(self, placement, every_caller=every_caller)

    def line_of(self, *path: str | int) -> int | None:
        return self.document.line_of(tuple(path))

    def where(self, *path: str | int) -> str:
        line = self.line_of(*path)
        return f"{self.path}:{line}" if line else self.path

    def principal_tags(self, caller_name: str) -> dict[str, str]:
        """The tags aipctl puts on a caller's IAM roles and users (principal plane); {} for ``attribution: profile``."""
        caller = self.inventory.callers[caller_name]
        if caller.attribution == "profile":
            return {}
        return {
            rules.TAG_APPLICATION: caller_name,
            rules.TAG_OWNER: caller.owner,
            rules.TAG_ENVIRONMENT: caller.environment,
            **caller.tags,
        }

    def cost_tag_keys(self) -> list[str]:
        """Every cost-allocation tag the inventory needs active: the AIP plane's, then the principal plane's."""
        if self.cost_tags_here is not None:
            return list(self.cost_tags_here)
        return list(self.inventory.cost_tags) + self.principal_cost_tags()

    def principal_cost_tags(self) -> list[str]:
        """The principal-plane cost-allocation tags to activate: ``iamPrincipal/<key>`` for the inventory's
        cost tags and each tenant tag, when any caller is attributed by principal."""
        callers = [c for c in self.inventory.callers.values() if c.attribution != "profile"]
        if not callers:
            return []
        keys = list(self.inventory.cost_tags) + sorted({c.tenant_tag for c in callers if c.tenants})
        return [rules.PRINCIPAL_TAG_PREFIX + k for k in dict.fromkeys(keys)]


def load_inventory(path: str | os.PathLike[str] = DEFAULT_INVENTORY) -> LoadedInventory:
    """Read, parse and validate an inventory. Raises InventoryError (all problems) or UsageError."""
    file = str(path)
    try:
        size = FsPath(file).stat().st_size
        if size > MAX_BYTES:  # refused unread
            raise InventoryError(
                [
                    InventoryProblem(
                        file, 1, "", f"the file is {size / 2**20:.1f} MB; an inventory may be at most {MAX_BYTES >> 20} MB"
                    )
                ]
            )
        text = FsPath(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"inventory file {file!r} not found", hint="create one with `aipctl init` or pass -f FILE") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read inventory {file!r}: {exc}") from None
    return parse_inventory(text, file)


def parse_inventory(text: str, file: str = "<inventory>") -> LoadedInventory:
    """Validate inventory text; the same checks as :func:`load_inventory`."""
    doc = load_located(text, file)
    if not isinstance(doc.data, dict):
        raise InventoryError([InventoryProblem(file, 1, "", "the inventory must be a YAML mapping (region, models, callers)")])
    tier_problems, data = _with_tier_defaults(doc)
    if tier_problems:
        raise InventoryError(tier_problems)
    try:
        inventory = Inventory.model_validate(data)
    except ValidationError as exc:
        schema_problems = [_problem_from_pydantic(doc, err) for err in exc.errors()]
        reported = {p.field for p in schema_problems}
        schema_problems += [p for p in _raw_alias_problems(doc) if p.field not in reported]
        raise InventoryError(schema_problems) from None
    problems: list[InventoryProblem] = []
    _check_identities(inventory, doc, problems)
    sources = _check_sources(inventory, doc, problems)
    for alias in inventory.pricing.models if inventory.pricing else ():
        if alias not in inventory.models:
            known = ", ".join(sorted(inventory.models))
            problems.append(_problem(doc, ("pricing", "models", alias), f"unknown model alias {alias!r} (defined: {known})"))
    profiles = _desired_profiles(inventory, sources, doc, problems)
    _check_placements(inventory, doc, problems)
    if problems:
        raise InventoryError(problems)
    return LoadedInventory(file, inventory, sources, tuple(profiles), doc)


def _with_tier_defaults(doc: LocatedDocument) -> tuple[list[InventoryProblem], dict[str, Any]]:
    """The raw data with ``tiers`` reduced to weights and each caller's tier budget/limits merged in.

    ``tiers: {gold: 4}`` is a weight; ``tiers: {gold: {weight: 4, budget: {...}, limits: {...}}}`` also gives
    defaults. A caller's own ``budget``/``limits`` keys override the tier's field by field, so validation
    (and its file:line) sees the caller's effective values.
    """
    from aipctl.inventory.model import Tier

    data = dict(doc.data)
    tiers = data.get("tiers")
    if not isinstance(tiers, dict) or not any(isinstance(v, dict) for v in tiers.values()):
        return [], data
    problems: list[InventoryProblem] = []
    weights: dict[str, Any] = {}
    defaults: dict[str, Tier] = {}
    for name, value in tiers.items():
        if not isinstance(value, dict):
            weights[name] = value
            continue
        try:
            tier = Tier.model_validate(value)
        except ValidationError as exc:
            for err in exc.errors():
                loc: Path = ("tiers", name, *(part for part in err["loc"] if isinstance(part, str | int)))
                fixed = dict(err)
                fixed["loc"] = loc
                problems.append(_problem_from_pydantic(doc, fixed))  # type: ignore[arg-type]
            continue
        weights[name] = tier.weight
        defaults[name] = tier
    data["tiers"] = weights
    data["tier_defaults"] = {n: t.model_dump() for n, t in defaults.items()}
    callers = data.get("callers")
    if isinstance(callers, dict):
        merged = {}
        for cname, raw in callers.items():
            spec = defaults.get(str(raw.get("tier"))) if isinstance(raw, dict) else None
            if spec is None:
                merged[cname] = raw
                continue
            caller = dict(raw)
            for key in ("budget", "limits"):
                inherited = getattr(spec, key)
                own = caller.get(key)
                if inherited and (own is None or isinstance(own, dict)):
                    caller[key] = {**inherited, **(own or {})}
            merged[cname] = caller
        data["callers"] = merged
    return problems, data


def _problem_from_pydantic(doc: LocatedDocument, err: ErrorDetails) -> InventoryProblem:
    loc: Path = tuple(part for part in err["loc"] if isinstance(part, str | int))
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown field (check the spelling; see `aipctl init` for the format)"
    elif err["type"] == "missing":
        message = "required field is missing"
    return InventoryProblem(doc.file, doc.line_of(loc), dotted_path(loc), message)


def _raw_alias_problems(doc: LocatedDocument) -> list[InventoryProblem]:
    """Unknown model aliases, found on the raw data so they show up with schema errors too."""
    data = doc.data
    models, callers = data.get("models"), data.get("callers")
    if not isinstance(models, dict) or not isinstance(callers, dict):
        return []
    problems = []
    pricing = data.get("pricing")
    terms = pricing.get("models") if isinstance(pricing, dict) else None
    for alias in terms if isinstance(terms, dict) else {}:
        if alias not in models:
            known = ", ".join(sorted(map(str, models))) or "none"
            problems.append(_problem(doc, ("pricing", "models", alias), f"unknown model alias {alias!r} (defined: {known})"))
    for name, caller in callers.items():
        aliases = caller.get("models") if isinstance(caller, dict) else None
        for index, alias in enumerate(aliases if isinstance(aliases, list) else []):
            if isinstance(alias, str) and alias not in models:
                known = ", ".join(sorted(map(str, models))) or "none"
                path: Path = ("callers", name, "models", index)
                problems.append(_problem(doc, path, f"unknown model alias {alias!r} (defined: {known})"))
    return problems


def _problem(doc: LocatedDocument, path: Path, message: str) -> InventoryProblem:
    return InventoryProblem(doc.file, doc.line_of(path), dotted_path(path), message)


def _check_sources(inv: Inventory, doc: LocatedDocument, problems: list[InventoryProblem]) -> dict[str, ModelSource]:
    sources: dict[str, ModelSource] = {}
    for alias, value in inv.models.items():
        problem = rules.check_identifier(alias, "model alias")
        if problem:
            problems.append(_problem(doc, ("models", alias), problem))
            continue
        try:
            sources[alias] = parse_model_source(str(value), inv.region)
        except ValueError as exc:
            problems.append(_problem(doc, ("models", alias), str(exc)))
    for index, key in enumerate(inv.cost_tags):
        problem = rules.check_tag_key(key)
        if problem:
            problems.append(_problem(doc, ("cost_tags", index), problem))
    if len(set(inv.cost_tags)) != len(inv.cost_tags):
        problems.append(_problem(doc, ("cost_tags",), "cost_tags lists a key twice"))
    for tier, weight in inv.tiers.items():
        if not weight > 0:
            problems.append(_problem(doc, ("tiers", tier), f"tier weight must be positive, got {weight}"))
    for name, caller in inv.callers.items():
        if caller.tier is not None and caller.tier not in inv.tiers:
            known = ", ".join(sorted(inv.tiers)) or "none"
            problems.append(_problem(doc, ("callers", name, "tier"), f"unknown tier {caller.tier!r} (defined: {known})"))
        if caller.budget and caller.budget.brake_at and not caller.identities:
            problems.append(
                _problem(
                    doc,
                    ("callers", name, "budget", "brake_at"),
                    "brake_at needs identities: the brake acts on the caller's IAM roles",
                )
            )
    return sources


def _desired_profiles(
    inv: Inventory, sources: dict[str, ModelSource], doc: LocatedDocument, problems: list[InventoryProblem]
) -> list[DesiredProfile]:
    profiles: list[DesiredProfile] = []
    names: dict[str, tuple[str, str]] = {}
    for caller_name, caller in inv.callers.items():
        base: Path = ("callers", caller_name)
        problem = rules.check_identifier(caller_name, "caller name")
        if problem:
            problems.append(_problem(doc, base, problem))
            continue
        tags = _caller_tags(inv, caller_name, doc, problems)
        _check_tenants(inv, caller_name, doc, problems)
        for index, alias in enumerate(caller.models):
            if alias not in inv.models:
                known = ", ".join(sorted(inv.models)) or "none"
                problems.append(_problem(doc, (*base, "models", index), f"unknown model alias {alias!r} (defined: {known})"))
                continue
            if caller.models.index(alias) != index:
                problems.append(_problem(doc, (*base, "models", index), f"model alias {alias!r} is listed twice"))
                continue
            if alias not in sources or tags is None:
                continue  # already reported
            if caller.attribution == "principal":
                continue  # billed to its principals: no AIP
            name = f"{inv.name_prefix}{caller_name}-{alias}"
            problem = rules.check_profile_name(name)
            if problem:
                problems.append(_problem(doc, (*base, "models", index), problem + "; shorten the caller name or alias"))
                continue
            if name in names:
                other = names[name]
                problems.append(
                    _problem(
                        doc,
                        (*base, "models", index),
                        f"profile name {name!r} collides with caller {other[0]!r} model {other[1]!r}; rename one of them",
                    )
                )
                continue
            names[name] = (caller_name, alias)
            all_tags = {
                **tags,
                rules.TAG_CALLER: caller_name,
                rules.TAG_ALIAS: alias,
                rules.TAG_SOURCE: sources[alias].model_id,
            }
            description = f"aipctl {inv.name} caller {caller_name} model {alias}"
            profiles.append(
                DesiredProfile(caller_name, alias, name, sources[alias], description, tuple(sorted(all_tags.items())))
            )
    return profiles


def _check_placements(inv: Inventory, doc: LocatedDocument, problems: list[InventoryProblem]) -> None:
    """``accounts:`` and each caller's ``account:``/``region:``: known aliases, managed Regions, model ids every
    placed Region can call."""
    ids: dict[str, str] = {}
    billing = [alias for alias, account in inv.accounts.items() if account.billing]
    spread = bool(inv.accounts) or len(all_placements(inv)) > 1  # once: it reads every caller (10,000 callers: 18 s)
    for alias, account in inv.accounts.items():
        problem = rules.check_identifier(alias, "account alias")
        if problem:
            problems.append(_problem(doc, ("accounts", alias), problem))
        if account.id in ids:
            problems.append(_problem(doc, ("accounts", alias, "id"), f"account {account.id} is also {ids[account.id]!r}"))
        ids.setdefault(account.id, alias)
    if len(billing) > 1:
        problems.append(
            _problem(doc, ("accounts", billing[1], "billing"), f"only one management account pays: {billing[0]!r} is one")
        )
    known = ", ".join(inv.accounts) or "none"
    for name, caller in inv.callers.items():
        base: Path = ("callers", name)
        if caller.account and not inv.accounts:
            problems.append(
                _problem(doc, (*base, "account"), "no `accounts:` block defines account aliases; add one or drop account:")
            )
            continue
        for index, alias in enumerate(caller.account):
            if alias not in inv.accounts:
                problems.append(_problem(doc, (*base, "account", index), f"unknown account {alias!r} (defined: {known})"))
        if inv.accounts and not caller_accounts(inv, caller):
            problems.append(_problem(doc, base, f"name the caller's account: (one of {known})"))
        for index, region in enumerate(caller.region):
            for alias in caller_accounts(inv, caller):
                if alias in inv.accounts and region not in account_regions(inv, alias):
                    managed = ", ".join(account_regions(inv, alias))
                    problems.append(
                        _problem(
                            doc,
                            (*base, "region", index),
                            f"account {alias!r} manages {managed}; add {region} to accounts.{alias}.regions",
                        )
                    )
        where = caller_placements(inv, name)
        for tenant, tags in caller.tenants.items() if spread else ():
            wanted_account, wanted_region = tags.get("account"), tags.get("region")
            if wanted_account is not None and wanted_account not in {a for a, _ in where}:
                placed = ", ".join(dict.fromkeys(a for a, _ in where)) or "none"
                problems.append(
                    _problem(
                        doc,
                        (*base, "tenants", tenant, "account"),
                        f"caller {name!r} runs in account(s) {placed}, not {wanted_account!r}",
                    )
                )
            elif wanted_region is not None and not any(
                r == wanted_region and (wanted_account is None or a == wanted_account) for a, r in where
            ):
                placed = ", ".join(dict.fromkeys(r for a, r in where if wanted_account is None or a == wanted_account))
                problems.append(
                    _problem(
                        doc, (*base, "tenants", tenant, "region"), f"caller {name!r} runs in {placed} there, not {wanted_region}"
                    )
                )
        for _, region in where:
            for index, model in enumerate(caller.models):
                value = inv.models.get(model)
                if value is None:
                    continue
                resolved = model_in(inv, model, region)
                problem = None
                if resolved is None:
                    problem = (
                        f"no geography's profile of {value!r} serves {region} (caller {name!r}); "
                        "use a global.… profile or a foundation model id"
                    )
                else:
                    try:
                        parse_model_source(resolved, region)
                    except ValueError as exc:
                        problem = f"{exc} (caller {name!r} runs in {region})"
                if problem and region != inv.region:
                    problems.append(_problem(doc, (*base, "models", index), problem))
    _check_region_models(inv, doc, problems)


def _check_region_models(inv: Inventory, doc: LocatedDocument, problems: list[InventoryProblem]) -> None:
    """``region_models``: Regions the inventory acts in, aliases of ``models:``, ids that Region can call."""
    every = all_placements(inv)
    regions = {p.region for p in every}
    one_place = not inv.accounts and len(every) == 1
    for region, entries in inv.region_models.items():
        if one_place:
            problems.append(
                _problem(doc, ("region_models", region), f"{region} is this inventory's only Region: write the ids in models:")
            )
            continue
        if region not in regions:
            where = ", ".join(sorted(regions))
            problems.append(_problem(doc, ("region_models", region), f"the inventory acts in {where}, not {region}"))
            continue
        for alias, value in entries.items():
            path: Path = ("region_models", region, alias)
            if alias not in inv.models:
                known = ", ".join(sorted(inv.models)) or "none"
                problems.append(_problem(doc, path, f"{alias!r} is not a model alias of `models:` (known: {known})"))
                continue
            try:
                parse_model_source(value, region)
            except ValueError as exc:
                problems.append(_problem(doc, path, f"{exc} (in {region})"))


def identity_name(pattern: str) -> str:
    """The role or user name part of an identity pattern (for ``assumed-role/<role>/<session>``, the role)."""
    resource = pattern.split(":", 5)[-1]
    parts = resource.split("/")
    if parts[0] == "assumed-role":
        return parts[1] if len(parts) > 1 else ""
    return parts[-1]


def _overlap(a: str, b: str) -> bool:
    """Whether two identity patterns can match one principal (sessions of a role count as the role)."""
    import fnmatch

    left, right = rules.principal_pattern(a), rules.principal_pattern(b)
    if left is None or right is None or left[0] != right[0]:
        return a == b
    x, y = left[1], right[1]
    return x == y or fnmatch.fnmatchcase(x, y) or fnmatch.fnmatchcase(y, x)


def _check_identities(inv: Inventory, doc: LocatedDocument, problems: list[InventoryProblem]) -> None:
    """No wildcard role/user names unless ``allow_wildcard``; no principal matched by two callers."""
    seen: list[tuple[str, int, str]] = []
    for name, caller in inv.callers.items():
        for index, pattern in enumerate(caller.identities):
            where: Path = ("callers", name, "identities", index)
            if any(ch in identity_name(pattern) for ch in "*?") and not caller.allow_wildcard:
                problems.append(
                    _problem(
                        doc,
                        where,
                        f"identity {pattern!r} names roles or users with a wildcard: its policies and tags would reach "
                        "every principal it matches (`role/*` is every role); name them, or set allow_wildcard: true",
                    )
                )
            for other, other_index, other_pattern in seen:
                if other != name and _overlap(pattern, other_pattern):
                    line = doc.line_of(("callers", other, "identities", other_index))
                    problems.append(
                        _problem(
                            doc,
                            where,
                            f"identity {pattern!r} of caller {name!r} overlaps {other_pattern!r} of caller {other!r} "
                            f"({doc.file}:{line}): a principal can bill to one caller only",
                        )
                    )
            seen.append((name, index, pattern))


#: What STS takes as RoleSessionName (a tenant's name is its session name).
_SESSION_NAME_RE = re.compile(r"^[\w+=,.@-]{2,64}$")


def tenant_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a tenant (its STS session name), or None."""
    if not _SESSION_NAME_RE.match(name) or rules.check_tag_value(name):
        return f"tenant {name!r} must be 2-64 of letters, digits and + = , . @ _ - (its STS session name)"
    return None


def tenant_role(pattern: str) -> str | None:
    """The role name a tenant session assumes, from an identity pattern (None: not a concrete role)."""
    match = re.match(r"^arn:aws[a-z-]*:iam::(\d{12}|\*):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)$", pattern)
    return match.group(2) if match else None


def _check_tenants(inv: Inventory, caller_name: str, doc: LocatedDocument, problems: list[InventoryProblem]) -> None:
    caller = inv.callers[caller_name]
    base: Path = ("callers", caller_name)
    problem = rules.check_tag_key(caller.tenant_tag)
    if not problem and caller.tenant_tag in rules.STANDARD_TAG_KEYS:
        problem = f"{caller.tenant_tag!r} is set by aipctl from the caller; pick another tenant_tag (default Tenant)"
    if problem:
        problems.append(_problem(doc, (*base, "tenant_tag"), problem))
    if not caller.tenants:
        return
    if caller.attribution == "profile":
        problems.append(
            _problem(
                doc,
                (*base, "tenants"),
                "tenants are told apart by STS session tags, which only the principal plane bills: "
                "set attribution: both (or principal)",
            )
        )
    if not any(tenant_role(p) for p in caller.identities):
        problems.append(
            _problem(
                doc,
                (*base, "tenants"),
                "tenants share a role they assume with a session tag: give the caller a role identity "
                "such as 'arn:aws:iam::*:role/gateway' (no wildcard in the role name)",
            )
        )
    for tenant, tags in caller.tenants.items():
        where: Path = (*base, "tenants", tenant)
        if name_problem := tenant_name_problem(tenant):
            problems.append(_problem(doc, where, name_problem))
        for key, value in tags.items():
            problem = rules.check_tag_key(key)
            if not problem and (key in rules.STANDARD_TAG_KEYS or key == caller.tenant_tag):
                problem = f"{key!r} is set by aipctl for every tenant"
            if not problem and key.lower().startswith("aipctl:"):
                problem = "tag keys starting with 'aipctl:' are reserved for aipctl's own markers"
            problem = problem or rules.check_tag_value(value)
            if problem:
                problems.append(_problem(doc, (*where, key), problem))


def _caller_tags(
    inv: Inventory, caller_name: str, doc: LocatedDocument, problems: list[InventoryProblem]
) -> dict[str, str] | None:
    caller = inv.callers[caller_name]
    base: Path = ("callers", caller_name, "tags")
    before = len(problems)
    for key, value in caller.tags.items():
        problem = rules.check_tag_key(key)
        if not problem and key in rules.STANDARD_TAG_KEYS:
            problem = f"{key!r} is set by aipctl from the caller (Application=<caller>, owner, environment)"
        if not problem and key.lower().startswith("aipctl:"):
            problem = "tag keys starting with 'aipctl:' are reserved for aipctl's own markers"
        if not problem and " " in key and caller.attribution != "profile":
            problem = "a tag key with a space cannot go on IAM principals (aipctl lists the keys it set, space-separated)"
        problem = problem or rules.check_tag_value(value)
        if problem:
            problems.append(_problem(doc, (*base, key), problem))
    total = len(caller.tags) + len(rules.STANDARD_TAG_KEYS) + len(rules.AIPCTL_TAG_KEYS)
    if total > rules.MAX_TAGS_PER_RESOURCE:
        problems.append(
            _problem(
                doc,
                base,
                f"{total} tags per AIP ({len(caller.tags)} custom + 7 set by aipctl); "
                f"Bedrock allows at most {rules.MAX_TAGS_PER_RESOURCE}",
            )
        )
    if len(problems) != before:
        return None
    return {
        rules.TAG_APPLICATION: caller_name,
        rules.TAG_OWNER: caller.owner,
        rules.TAG_ENVIRONMENT: caller.environment,
        **caller.tags,
        rules.TAG_MANAGED: inv.name,
    }


def iter_identity_patterns(loaded: LoadedInventory) -> Iterator[tuple[str, str]]:
    """(caller, identity pattern) pairs, for verify and the guards."""
    for name, caller in loaded.inventory.callers.items():
        for pattern in caller.identities:
            yield name, pattern
