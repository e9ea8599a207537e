"""Wire callers to their AIPs: find the ARNs, rewrite model ids in flight, know what a call costs.

>>> import boto3, aipctl
>>> runtime = boto3.client("bedrock-runtime")
>>> aipctl.attach(runtime, caller="open-webui")          # doctest: +SKIP
>>> runtime.converse(modelId="eu.anthropic.claude-sonnet-4-6", messages=[...])  # doctest: +SKIP
... # goes to open-webui's AIP for that model; its cost lands on Application=open-webui

ARNs come from (in this order) the environment ``aipctl wire --format env`` writes
(``AIPCTL_CALLER`` + ``BEDROCK_AIP_ARN_<ALIAS>``), SSM parameters ``/aipctl/<caller>/<alias>``
(``--format ssm``), or a live lookup of the AIPs tagged ``aipctl:caller``/``aipctl:alias``; never
guessed. Lookups are cached per process.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aipctl._exceptions import AwsError, BrakeEngaged, UnknownCaller, UnknownModelForCaller, UsageError
from aipctl.inventory import rules
from aipctl.pricing import ModelRef, price_book

if TYPE_CHECKING:
    from aipctl.guard.limits import Limiter, Store


class _BotocoreClient(Protocol):
    """What ``attach`` needs of a client: botocore's ``meta.events`` (boto3 itself is untyped)."""

    meta: Any


#: ``attach`` gives back the very client it was given.
C = TypeVar("C", bound=_BotocoreClient)

RUNTIME_OPERATIONS = ("Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream")
SSM_PREFIX = "/aipctl"


def env_name(alias: str | None) -> str:
    """``BEDROCK_AIP_ARN`` (single model) or ``BEDROCK_AIP_ARN_<ALIAS>``."""
    return "BEDROCK_AIP_ARN" if alias is None else "BEDROCK_AIP_ARN_" + alias.upper().replace("-", "_")


def ssm_name(caller: str, alias: str) -> str:
    return f"{SSM_PREFIX}/{caller}/{alias}"


@dataclass(frozen=True)
class AipInfo:
    """What an AIP ARN stands for: its caller, model alias and the model it routes to."""

    arn: str
    profile_id: str
    caller: str | None
    alias: str | None
    source: ModelRef
    inventory: str | None
    #: The ``aipctl:brake`` tag (``<time> <reason>``) when the AIP is braked.
    brake: str | None = None

    @property
    def base_model(self) -> str:
        return self.source.model_id


class Resolver:
    """Finds AIP ARNs for callers and describes ARNs; thread-safe, cached for ``ttl_s``."""

    def __init__(
        self,
        session: Any = None,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        inventory: str | None = None,
        ttl_s: float = 300.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._session = session
        self.region = region
        self.endpoint_url = endpoint_url
        self.inventory = inventory
        self.ttl_s = ttl_s
        self.environ = os.environ if environ is None else environ
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._index: tuple[float, dict[tuple[str, str], AipInfo]] | None = None
        self._described: dict[str, AipInfo] = {}

    @property
    def session(self) -> Any:
        """The boto3 session given to the resolver (None: boto3's default chain)."""
        return self._session

    # -- clients -----------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                import boto3

                session = self._session or boto3.Session()
                kwargs: dict[str, Any] = {"region_name": self.region or session.region_name}
                if self.endpoint_url:
                    kwargs["endpoint_url"] = self.endpoint_url
                self._clients[service] = session.client(service, **kwargs)
            return self._clients[service]

    # -- caller -> ARN ------------------------------------------------------------------------
    def resolve(self, caller: str, alias: str | None = None) -> str:
        """The AIP ARN of ``caller`` for ``alias`` (None: the caller's only model)."""
        from_env = self._from_env(caller, alias)
        if from_env:
            return from_env
        try:
            profiles = self.profiles_of(caller)
        except UnknownCaller:
            profiles = {}  # the tag index may lag behind a fresh apply: SSM is the next source
        if alias is None and len(profiles) == 1:
            return next(iter(profiles.values())).arn
        if alias is None:
            raise UsageError(f"caller {caller!r} has {len(profiles)} AIPs ({', '.join(sorted(profiles))}): name the alias")
        if alias in profiles:
            return profiles[alias].arn
        from_ssm = self._from_ssm(caller, alias)
        if from_ssm:
            return from_ssm
        raise UnknownCaller(
            f"no AIP for caller {caller!r} and model {alias!r}",
            hint=f"known: {', '.join(sorted(profiles)) or 'none'}; run `aipctl apply` and `aipctl wire`",
        )

    def profiles_of(self, caller: str) -> dict[str, AipInfo]:
        """alias -> AIP of ``caller``, from the live account (tags), cached."""
        found = {alias: info for (name, alias), info in self._live_index().items() if name == caller}
        if not found:
            raise UnknownCaller(
                f"no AIP is tagged {rules.TAG_CALLER}={caller}",
                hint="check the name, or create its AIPs with `aipctl apply`; a caller with `attribution: principal` "
                "has none: attach(client, caller, by_principal=True)",
            )
        return found

    def callers(self) -> list[str]:
        return sorted({name for name, _ in self._live_index()})

    def _from_env(self, caller: str, alias: str | None) -> str | None:
        if self.environ.get("AIPCTL_CALLER") != caller:
            return None
        return self.environ.get(env_name(alias)) or None

    def _from_ssm(self, caller: str, alias: str) -> str | None:
        try:
            from aipctl.aws.errors import aws_call

            with aws_call("ssm", "GetParameter", ssm_name(caller, alias)):
                return str(self.client("ssm").get_parameter(Name=ssm_name(caller, alias))["Parameter"]["Value"])
        except AwsError:
            return None

    def brakes_of(self, caller: str, max_age_s: float) -> dict[str, str]:
        """AIP ARN -> ``aipctl:brake`` value of ``caller``'s braked AIPs, read again when older than ``max_age_s``."""
        index = self._live_index(max_age_s)
        return {info.arn: info.brake for (name, _), info in index.items() if name == caller and info.brake}

    def _live_index(self, max_age_s: float | None = None) -> dict[tuple[str, str], AipInfo]:
        with self._lock:
            if self._index and time.monotonic() - self._index[0] < min(self.ttl_s, max_age_s or self.ttl_s):
                return self._index[1]
        from aipctl.aws.errors import aws_call

        tagging = self.client("resourcegroupstaggingapi")
        index: dict[tuple[str, str], AipInfo] = {}
        kwargs: dict[str, Any] = {
            "ResourceTypeFilters": ["bedrock:application-inference-profile"],
            "ResourcesPerPage": 100,
            "TagFilters": [{"Key": rules.TAG_CALLER}],
        }
        while True:
            with aws_call("tag", "GetResources"):
                page = tagging.get_resources(**kwargs)
            for item in page.get("ResourceTagMappingList", []):
                info = _info(item["ResourceARN"], {t["Key"]: t["Value"] for t in item.get("Tags", [])})
                if info.caller and info.alias and (self.inventory is None or info.inventory == self.inventory):
                    index[(info.caller, info.alias)] = info
            if not page.get("PaginationToken"):
                break
            kwargs["PaginationToken"] = page["PaginationToken"]
        with self._lock:
            self._index = (time.monotonic(), index)
            for info in index.values():
                self._described[info.arn] = info
        return index

    # -- ARN -> what it is ---------------------------------------------------------------------
    def describe(self, arn_or_id: str) -> AipInfo:
        """Caller, alias and base model of an AIP (GetInferenceProfile + its tags), cached."""
        with self._lock:
            cached = self._described.get(arn_or_id)
        if cached:
            return cached
        from aipctl.aws.errors import aws_call

        bedrock = self.client("bedrock")
        with aws_call("bedrock", "GetInferenceProfile", arn_or_id):
            profile = bedrock.get_inference_profile(inferenceProfileIdentifier=arn_or_id)
        with aws_call("bedrock", "ListTagsForResource", profile["inferenceProfileArn"]):
            tags = {
                t["key"]: t["value"] for t in bedrock.list_tags_for_resource(resourceARN=profile["inferenceProfileArn"])["tags"]
            }
        info = _info(profile["inferenceProfileArn"], tags, models=[m["modelArn"] for m in profile.get("models", [])])
        with self._lock:
            self._described[arn_or_id] = self._described[info.arn] = info
        return info


def _info(arn: str, tags: Mapping[str, str], models: list[str] | None = None) -> AipInfo:
    source = tags.get(rules.TAG_SOURCE)
    if source:
        ref = ModelRef.from_source(source, arn.split(":")[3] if arn.startswith("arn:") else None)
    elif models:  # not made by aipctl: the first routed model, Region unknown to pricing
        ref = ModelRef(models[0].rsplit("/", 1)[-1], None)
    else:
        ref = ModelRef("", None)
    return AipInfo(
        arn,
        arn.rsplit("/", 1)[-1],
        tags.get(rules.TAG_CALLER),
        tags.get(rules.TAG_ALIAS),
        ref,
        tags.get(rules.TAG_MANAGED),
        tags.get(rules.TAG_BRAKE),
    )


_default: Resolver | None = None
_default_lock = threading.Lock()


def default_resolver() -> Resolver:
    global _default
    with _default_lock:
        if _default is None:
            _default = Resolver()
        return _default


def resolve(caller: str, alias: str | None = None, *, resolver: Resolver | None = None) -> str:
    """The AIP ARN of a caller's model. ``aipctl.resolve("open-webui", "sonnet")``."""
    return (resolver or default_resolver()).resolve(caller, alias)


def describe(arn_or_id: str, *, resolver: Resolver | None = None) -> AipInfo:
    """Which caller and base model an AIP ARN stands for."""
    return (resolver or default_resolver()).describe(arn_or_id)


def model_map(resolver: Resolver, caller: str) -> dict[str, str]:
    """Every model id a caller's code may use -> its AIP ARN (aliases, model ids, profile ids, ARNs)."""
    mapping: dict[str, str] = {}
    for alias, info in sorted(resolver.profiles_of(caller).items()):
        names = [alias, info.arn, info.profile_id]
        if info.source.geo:
            names.append(f"{info.source.geo}.{info.source.model_id}")
        names.append(info.source.model_id)
        for name in names:
            mapping.setdefault(name, info.arn)
    return mapping


def attach(
    client: C,
    caller: str,
    *,
    strict: bool = True,
    resolver: Resolver | None = None,
    limits: Any = None,
    store: Store | None = None,
    on_limit: str = "raise",
    by_principal: bool = False,
    brake_check_s: float = 30.0,
    inventory: Any = None,
) -> C:
    """Route ``client``'s runtime calls through ``caller``'s AIPs (one botocore event handler).

    ``by_principal=True`` is for ``attribution: principal`` callers, which have no AIPs: their calls
    are billed to their IAM principal as they are, so nothing is rewritten; ``limits`` still apply.

    ``inventory`` (a path, or a loaded inventory) lets the caller's entry speak for itself: its
    ``limits`` and ``tier`` (with the inventory's tier weights and tier defaults) when ``limits`` is not
    given, and ``by_principal`` for an ``attribution: principal`` caller.

    A call to an AIP tagged ``aipctl:brake`` raises :class:`aipctl.BrakeEngaged` before it leaves the
    process (the brake state is read again at most every ``brake_check_s`` seconds); IAM denies it
    as well where the anti-bypass policy is attached.

    ``modelId`` may be the caller's alias (``"sonnet"``), a foundation model id, a system-defined
    profile id or ARN, or already an AIP ARN: it is rewritten to the caller's AIP for that model.
    Anything else raises :class:`UnknownModelForCaller` (``strict=True``) or passes unchanged.
    The mapping is resolved once, here; a call pays one dict lookup.

    ``limits`` (a :class:`aipctl.guard.limits.LimitSpec`, the inventory's ``limits`` entry or a
    mapping with ``rpm``/``tpm``/``daily_usd``/``tier``) adds the in-path limits: a refused call
    raises :class:`aipctl.LimitExceeded` (or waits, with ``on_limit="wait"``). ``store`` is where
    the buckets live (default: this process, or Redis when ``AIPCTL_LIMITS_REDIS_URL`` is set).
    """
    tiers: Mapping[str, float] | None = None
    if inventory is not None:
        from aipctl.inventory import LoadedInventory, load_inventory

        loaded = inventory if isinstance(inventory, LoadedInventory) else load_inventory(inventory)
        entry = loaded.inventory.callers.get(caller)
        if entry is None:
            known = ", ".join(sorted(loaded.inventory.callers)) or "none"
            raise UnknownCaller(f"caller {caller!r} is not in {loaded.path} (callers: {known})")
        limits = limits if limits is not None else (entry if (entry.limits or entry.tier) else None)
        tiers = loaded.inventory.tiers
        by_principal = by_principal or entry.attribution == "principal"
    resolver = resolver or default_resolver()
    mapping = {} if by_principal else model_map(resolver, caller)
    own = set(mapping.values())
    limiter = _limiter(caller, limits, store, on_limit, tiers)
    from aipctl.guard.hook import Prices, settle_handler

    prices = Prices({} if by_principal or limiter is None else {i.arn: i.source for i in resolver.profiles_of(caller).values()})
    brakes: list[Any] = [0.0, {}]  # (checked at, braked AIP ARN -> brake tag)

    def braked(arn: str) -> str | None:
        now = time.monotonic()
        if now - brakes[0] >= brake_check_s:
            with contextlib.suppress(AwsError):  # keep the last state: a failed read neither lifts nor invents a brake
                brakes[1] = resolver.brakes_of(caller, brake_check_s)
            brakes[0] = now
        found: str | None = brakes[1].get(arn)
        return found

    def route(params: dict[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
        model_id = params.get("modelId")
        if not by_principal and model_id not in own:
            arn = mapping.get(str(model_id)) or mapping.get(str(model_id).rsplit("/", 1)[-1])
            if arn is not None:
                params["modelId"] = arn
            elif strict:
                raise UnknownModelForCaller(
                    f"{model_id!r} is not a model of caller {caller!r}: the call would bypass its AIPs",
                    hint=f"use one of {', '.join(sorted(k for k in mapping if not k.startswith('arn:')))}",
                )
        if not by_principal and (tag := braked(str(params.get("modelId")))) is not None:
            at, reason = rules.parse_brake_tag(tag)
            raise BrakeEngaged(caller, str(params.get("modelId")), at, reason)
        if limiter is not None and context is not None:
            target = str(params.get("modelId"))
            context["aipctl_ticket"] = (limiter.admit(params, prices.of(target)), target)

    for operation in RUNTIME_OPERATIONS:
        client.meta.events.register(f"provide-client-params.bedrock-runtime.{operation}", route, unique_id=f"aipctl-{operation}")
    if limiter is not None:
        handler = settle_handler(limiter, prices)
        for operation in RUNTIME_OPERATIONS:
            client.meta.events.register(
                f"after-call.bedrock-runtime.{operation}", handler, unique_id=f"aipctl-settle-{operation}"
            )
    return client


def _limiter(
    caller: str, limits: Any, store: Store | None, on_limit: str, tiers: Mapping[str, float] | None = None
) -> Limiter | None:
    if limits is None:
        return None
    from aipctl.guard.limits import Limiter, LimitSpec

    spec = LimitSpec.of(limits, tiers)
    return None if spec.empty else Limiter(caller, spec, store=store, on_limit=on_limit)


def cost_of(model_id: str, usage: Mapping[str, Any], *, resolver: Resolver | None = None, tier: str | None = None) -> Decimal:
    """USD list-price cost of one call for any model id: ``usage`` is a Converse ``usage`` (or a whole Converse
    response, whose ``serviceTier`` then prices it), InvokeModel header counts, or Anthropic's ``usage``.

    Works behind opaque AIP ARNs (the AIP's model, route and Region are looked up once), for system-defined
    profile ids (geo premium) and for foundation model ids. 1-hour cache writes (Converse ``cacheDetails``,
    Anthropic ``cache_creation``) are priced as such. Unknown models, tiers or kinds raise
    :class:`aipctl.pricing.Unpriced` (a KeyError), never $0.
    """
    inner = usage.get("usage")
    if inner is not None and isinstance(inner, Mapping):  # a whole response
        tier = tier or (usage.get("serviceTier") or {}).get("type")
        usage = inner
    book = price_book()
    key = (model_id, tier or "default")
    hit = _priced.get(key) if resolver is None else None
    if hit is None or hit[0] is not book:
        is_aip = ":application-inference-profile/" in model_id or (
            len(model_id) == 12 and model_id.isalnum() and model_id.islower()
        )
        ref = (resolver or default_resolver()).describe(model_id).source if is_aip else ModelRef.from_source(model_id)
        hit = (book, ref, *book.per_token(ref, key[1]))
        if resolver is None:  # an AIP's model and Region never change: priced once per process
            _priced[key] = hit
    _, ref, price, (p_in, p_out, p_read, p_write, p_long) = hit
    get = usage.get
    tin = get("inputTokens")
    if tin is not None or "outputTokens" in usage:  # Converse (or InvokeModel's header counts, renamed)
        tout, read, writes = get("outputTokens", 0), get("cacheReadInputTokens", 0), get("cacheWriteInputTokens", 0)
        details = get("cacheDetails") if writes else None
        long = sum(int(d.get("inputTokens", 0)) for d in details if d.get("ttl") == "1h") if details else 0
    else:  # Anthropic's usage
        tin, tout = get("input_tokens", 0), get("output_tokens", 0)
        read, writes = get("cache_read_input_tokens", 0), get("cache_creation_input_tokens", 0)
        creation = get("cache_creation") if writes else None
        long = int(creation.get("ephemeral_1h_input_tokens") or 0) if creation else 0
    if not (type(tin) is int and type(tout) is int and type(read) is int and type(writes) is int):
        tin, tout, read, writes = (int(v or 0) for v in (tin, tout, read, writes))  # header texts, None
    if price.missing:  # the book's own check: which kinds it cannot price
        return book.cost(
            ref,
            input_tokens=tin,
            output_tokens=tout,
            cache_read=read,
            cache_write=writes - long,
            cache_write_1h=long,
            tier=key[1],
        )
    total: Decimal = p_in * tin + p_out * tout
    if read or writes:
        total += p_read * read + p_write * (writes - long) + p_long * long
    return total


#: (model id, tier) -> (book, how it is priced, its rates), for ``cost_of`` with the default resolver.
_priced: dict[tuple[str, str], tuple[Any, ModelRef, Any, tuple[Decimal, ...]]] = {}
