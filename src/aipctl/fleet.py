"""One inventory across the accounts and Regions of an organization: plan, apply and list per placement.

Each placement (account × Region, :mod:`aipctl.inventory.placement`) gets a :class:`~aipctl.aws.target.Target`
of its own: in an account with ``role:``, a session of ``sts:AssumeRole`` into
``arn:<partition>:iam::<id>:role/<role>`` (refreshed before it expires); without one, aipctl's own
credentials, which must be that account's. The placements run side by side, at most ``parallel`` at a time;
one that fails (its role cannot be assumed, its API refuses) is reported with its error and the others go
on. Every placement's plan is the single-account plan of its projection, so prune only ever sees the
accounts and Regions the inventory names::

    with Project.open("org.yaml") as project:
        fleet = project.fleet()
        plan = fleet.plan()                      # FleetPlan: one group per account × Region
        report = fleet.apply(plan)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from threading import Lock
from typing import TYPE_CHECKING, Any, TypeVar

from aipctl._exceptions import AipctlError, TargetError, UsageError
from aipctl.inventory.placement import Placement
from aipctl.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from aipctl.aws.live import LiveState
    from aipctl.aws.target import Target
    from aipctl.inventory import LoadedInventory
    from aipctl.plan.apply import ApplyReport
    from aipctl.plan.model import Plan, Via
    from aipctl.wiring.rows import WiringRow

T = TypeVar("T")
#: Placements worked on at once (each apply has its own ``--concurrency`` of AWS calls).
DEFAULT_PARALLEL = 4


@dataclass(frozen=True)
class Group:
    """One placement's outcome: ``value`` (a plan, an apply report, live state) or the ``error`` that stopped it."""

    placement: Placement
    target: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def header(self) -> dict[str, Any]:
        p = self.placement
        out: dict[str, Any] = {"account": p.account or None, "account_id": p.account_id, "region": p.region}
        return out | {"target": dict(self.target), "error": self.error}


@dataclass(frozen=True)
class PlanGroup(Group):
    plan: Plan | None = None


@dataclass(frozen=True)
class ApplyGroup(Group):
    plan: Plan | None = None
    report: ApplyReport | None = None


@dataclass(frozen=True)
class FleetPlan:
    """The combined plan: one group per account × Region, in inventory order."""

    inventory_name: str
    inventory_path: str
    groups: tuple[PlanGroup, ...]

    @property
    def failed(self) -> tuple[PlanGroup, ...]:
        return tuple(g for g in self.groups if g.error)

    @property
    def has_changes(self) -> bool:
        return any(g.plan is not None and g.plan.has_changes for g in self.groups)

    def counts(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for group in self.groups:
            if group.plan is not None:
                total.update(group.plan.counts())
        return dict(total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "inventory": {"name": self.inventory_name, "path": self.inventory_path},
            "summary": self.counts(),
            "has_changes": self.has_changes,
            "placements": len(self.groups),
            "failed": [g.placement.label for g in self.failed],
            "groups": [g.header() | {"plan": g.plan.to_dict() if g.plan else None} for g in self.groups],
        }


@dataclass(frozen=True)
class FleetApply:
    groups: tuple[ApplyGroup, ...]

    @property
    def failed(self) -> tuple[ApplyGroup, ...]:
        """Placements that could not be applied, or where a change failed."""
        return tuple(g for g in self.groups if g.error or (g.report is not None and g.report.failed_names()))

    def failed_names(self) -> list[tuple[str, str]]:
        out = []
        for group in self.groups:
            if group.error:
                out.append((group.placement.label, group.error))
            elif group.report is not None:
                out += [(f"{group.placement.label}: {name}", why) for name, why in group.report.failed_names()]
        return out

    @property
    def interrupted(self) -> bool:
        return any(g.report is not None and g.report.interrupted for g in self.groups)


class Fleet:
    """The placements of an organization inventory, each on its own target derived from ``base``."""

    def __init__(self, loaded: LoadedInventory, base: Target, *, parallel: int = DEFAULT_PARALLEL) -> None:
        self.loaded = loaded
        self.base = base
        self.parallel = max(1, parallel)
        self._targets: dict[str, Target] = {}
        self._placed: dict[tuple[str, str], Target] = {}
        self._lock = Lock()

    @property
    def placements(self) -> tuple[Placement, ...]:
        return self.loaded.placements

    # -- targets ---------------------------------------------------------------------------------
    def target(self, placement: Placement) -> Target:
        """The placement's target (one session per account, shared by its Regions), kept for the fleet's life: an
        apply after its plan reuses the plan's clients."""
        from aipctl.aws.target import Target

        with self._lock:
            if placement.key not in self._placed:
                base = self.base
                self._placed[placement.key] = Target(
                    base.kind,
                    self._session(placement),
                    placement.region,
                    endpoint_url=base.endpoint_url,
                    state_dir=base.state_dir,
                    embedded=base.embedded,
                    max_pool_connections=base.max_pool_connections,
                )
            return self._placed[placement.key]

    def _session(self, placement: Placement) -> Any:
        key = placement.account
        if key not in self._targets:
            self._targets[key] = self._open(placement)
        return self._targets[key].session

    def _open(self, placement: Placement) -> Target:
        from aipctl.aws.target import Target

        base = self.base
        if placement.role is None or placement.account_id is None:
            if placement.account_id is not None and base.account != placement.account_id:
                raise TargetError(
                    f"account {placement.account} is {placement.account_id}, but aipctl's credentials are in {base.account}",
                    hint=f"give accounts.{placement.account} a role: aipctl can assume there",
                )
            return base
        partition = base.identity().arn.split(":")[1]
        role_arn = f"arn:{partition}:iam::{placement.account_id}:role/{placement.role}"
        session = assumed_session(base, role_arn, f"aipctl-{self.loaded.inventory.name}"[:64])
        return Target(base.kind, session, base.region, endpoint_url=base.endpoint_url)

    # -- work per placement ----------------------------------------------------------------------
    def each(
        self, work: Callable[[Placement, Target], T], progress: Progress = NO_PROGRESS, only: Iterable[Placement] | None = None
    ) -> list[tuple[Placement, dict[str, str], T | None, str | None]]:
        """Run ``work`` for every placement, ``parallel`` at a time: (placement, target shown, result, error)."""
        chosen = list(self.placements if only is None else only)
        progress("accounts × Regions", 0, len(chosen))

        def run(placement: Placement) -> tuple[dict[str, str], T | None, str | None]:
            shown: dict[str, str] = {"account": placement.account_id or "", "region": placement.region}
            try:
                target = self.target(placement)
                shown = target.describe()
                return shown, work(placement, target), None
            except AipctlError as exc:
                return shown, None, str(exc)

        results: dict[Placement, tuple[dict[str, str], T | None, str | None]] = {}
        with ThreadPoolExecutor(max_workers=min(self.parallel, len(chosen) or 1)) as pool:
            futures = {pool.submit(run, p): p for p in chosen}
            for done, future in enumerate(as_completed(futures), 1):
                results[futures[future]] = future.result()
                progress(futures[future].label, done, len(chosen))
        return [(p, *results[p]) for p in chosen]

    def plan(self, *, prune: bool = False, via: Via = "api", progress: Progress = NO_PROGRESS) -> FleetPlan:
        from aipctl.plan import make_plan

        def work(placement: Placement, target: Target) -> Plan:
            return make_plan(self.loaded.project(placement), target, prune=prune, via=via)

        groups = tuple(PlanGroup(p, shown, error, plan) for p, shown, plan, error in self.each(work, progress))
        return FleetPlan(self.loaded.inventory.name, self.loaded.path, groups)

    def apply(
        self,
        plan: FleetPlan,
        *,
        concurrency: int = 8,
        activate_cost_tags: bool = True,
        progress: Progress = NO_PROGRESS,
    ) -> FleetApply:
        """Apply every group that planned; groups that failed to plan stay failed, the others go on."""
        from aipctl.plan import apply_plan

        planned = {g.placement: g.plan for g in plan.groups if g.plan is not None}

        def work(placement: Placement, target: Target) -> ApplyReport:
            group_plan = planned[placement]
            return apply_plan(group_plan, target, concurrency=concurrency, activate_cost_tags=activate_cost_tags)

        # Billing's own placement goes last: it activates the cost-allocation tags, which Billing knows only once
        # the AIPs and principals carrying them exist in the other accounts.
        activating = {p for p, group_plan in planned.items() if group_plan is not None and group_plan.cost_tags}
        done = {
            p: (shown, report, error)
            for phase in ([p for p in planned if p not in activating], [p for p in planned if p in activating])
            if phase
            for p, shown, report, error in self.each(work, progress, phase)
        }
        groups = []
        for group in plan.groups:
            if group.placement in done:
                shown, report, error = done[group.placement]
                groups.append(ApplyGroup(group.placement, shown, error, group.plan, report))
            else:
                groups.append(ApplyGroup(group.placement, group.target, group.error, None, None))
        return FleetApply(tuple(groups))

    def wiring(
        self, callers: Collection[str] = (), *, account: str | None = None, region: str | None = None
    ) -> list[tuple[Placement, Target, list[WiringRow]]]:
        """Each placement's wiring rows (its callers × aliases with their AIPs there), optionally of one account
        alias and/or Region; a placement that cannot be read raises (wiring is never partial)."""
        from aipctl.aws.live import read_live_state
        from aipctl.wiring.rows import wiring_rows

        chosen = [p for p in self.placements if account in (None, p.account) and region in (None, p.region)]
        if not chosen:
            known = ", ".join(p.label for p in self.placements)
            raise UsageError(f"no account × Region of {self.loaded.path} matches", hint=f"there are: {known}")

        def work(placement: Placement, target: Target) -> tuple[Target, list[WiringRow]]:
            here = self.loaded.project(placement)
            wanted = [c for c in callers if c in here.inventory.callers] if callers else list(here.inventory.callers)
            if not wanted:
                return target, []
            return target, wiring_rows(here, read_live_state(target).managed(here), wanted)

        out = []
        for placement, _shown, found, error in self.each(work, only=chosen):
            if found is None:
                raise TargetError(f"{placement.label}: {error}")
            if found[1]:
                out.append((placement, found[0], found[1]))
        return out

    def live(self, progress: Progress = NO_PROGRESS) -> list[tuple[Placement, dict[str, str], LiveState | None, str | None]]:
        """Every placement's AIPs (with tags)."""
        from aipctl.aws.live import read_live_state

        return self.each(lambda _p, target: read_live_state(target), progress)


def assumed_session(base: Target, role_arn: str, session_name: str) -> Any:
    """A boto3 session on ``role_arn``'s credentials, assumed with ``base``'s and refreshed before they expire."""
    from aipctl.aws.errors import aws_call
    from aipctl.sessions import credential_metadata, refreshing_session

    sts = base.client("sts")

    def fetch() -> dict[str, str]:
        with aws_call("sts", "AssumeRole", role_arn):
            return credential_metadata(sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"])

    return refreshing_session(base.session, fetch, no_config=base.kind == "sim")
