"""The inventory: callers/tenants, the models they use, who they run as, their budgets and limits.

Example (the contract; extend it, don't break it)::

    region: eu-central-1
    cost_tags: [Application, Owner, Environment]
    models:
      sonnet: eu.anthropic.claude-sonnet-4-6
    callers:
      open-webui:
        owner: platform-team
        environment: production
        models: [sonnet]
        identities: ["arn:aws:iam::*:role/open-webui-task"]
        tags: {CostCenter: "4711"}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aipctl.inventory import rules


def _scalar_to_str(value: Any) -> Any:
    """YAML turns ``4711`` into an int and ``yes`` into a bool; tag values are strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Budget(_Strict):
    """Monthly budget of a caller (applied by the guards: AWS Budgets, alerts, the brake)."""

    monthly_usd: float = Field(gt=0)
    alert_at: list[float] = Field(default_factory=lambda: [50.0, 80.0, 100.0])
    brake_at: float | None = Field(default=None, gt=0)

    @field_validator("alert_at")
    @classmethod
    def _percentages(cls, value: list[float]) -> list[float]:
        for pct in value:
            if not 0 < pct <= 1000:
                raise ValueError(f"alert threshold {pct} must be a percentage between 0 and 1000")
        return sorted(set(value))


class Limits(_Strict):
    """In-path limits of a caller: requests and tokens per minute, USD per day."""

    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    daily_usd: float | None = Field(default=None, gt=0)


class Tier(_Strict):
    """A tier's defaults (``tiers: {gold: {weight: 4, budget: {...}, limits: {...}}}``): a caller naming the
    tier inherits ``budget`` and ``limits``, its own keys overriding them field by field."""

    weight: float = Field(default=1.0, gt=0)
    budget: dict[str, Any] | None = None
    limits: dict[str, Any] | None = None


#: S3 bucket names (general purpose): 3-63 lowercase letters, digits, dots and hyphens.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
#: CloudWatch Logs group names: 1-512 of letters, digits and _-./#
_LOG_GROUP_RE = re.compile(r"^[A-Za-z0-9_\-./#]{1,512}$")


#: Placeholders of a logging bucket name, for one bucket per account × Region (Bedrock logs only to its own).
BUCKET_PLACEHOLDERS = ("{account}", "{region}")
#: The longest values they take, to check a name with placeholders fits S3's 63 characters everywhere.
_LONGEST = {"{account}": "123456789012", "{region}": "ap-southeast-5"}


class S3Logging(_Strict):
    """Where Bedrock writes invocation logs in S3 (``<prefix>/AWSLogs/<account>/BedrockModelInvocationLogs/...``).

    Bedrock delivers only to a bucket of its own account and Region: in an organization inventory a bucket name
    with ``{account}`` and/or ``{region}`` (``bedrock-logs-{account}-{region}``) gives every account × Region its own,
    and logging is set up in each; a plain name is set up in the inventory's home placement only."""

    bucket: str
    prefix: str = ""

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        filled = value
        for placeholder, longest in _LONGEST.items():
            filled = filled.replace(placeholder, longest)
        if "{" in filled or "}" in filled:
            raise ValueError(f"{value!r}: the only placeholders of a bucket name are {' and '.join(BUCKET_PLACEHOLDERS)}")
        if not _BUCKET_RE.match(filled) or ".." in filled:
            raise ValueError(
                f"{value!r} is not an S3 bucket name (3-63 lowercase letters, digits, '.' and '-'"
                + (", with the placeholders filled in" if filled != value else "")
                + ")"
            )
        return value

    @property
    def per_placement(self) -> bool:
        return any(p in self.bucket for p in BUCKET_PLACEHOLDERS)

    def bucket_in(self, account: str, region: str) -> str:
        """The bucket of one account and Region (the name itself when it has no placeholders)."""
        return self.bucket.replace("{account}", account).replace("{region}", region)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if len(value) > 512 or any(ord(c) < 32 for c in value) or value.startswith("/"):
            raise ValueError(f"{value!r} is not a key prefix (no leading '/', no control characters, at most 512)")
        return value.strip("/")


class CloudWatchLogging(_Strict):
    """The CloudWatch Logs group Bedrock writes invocation logs to, and the role it assumes for that."""

    log_group: str
    #: The IAM role Bedrock assumes to write (created by apply when missing; needs IAM rights, see docs).
    role_name: str | None = None

    @field_validator("log_group")
    @classmethod
    def _group(cls, value: str) -> str:
        if not _LOG_GROUP_RE.match(value):
            raise ValueError(f"{value!r} is not a CloudWatch Logs group name (letters, digits and _-./#)")
        return value

    @field_validator("role_name")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[\w+=,.@-]{1,64}$", value):
            raise ValueError(f"{value!r} is not an IAM role name")
        return value


class InvocationLogging(_Strict):
    """Model invocation logging of the Region (one setting per account and Region), as apply sets it."""

    s3: S3Logging | None = None
    cloudwatch: CloudWatchLogging | None = None
    #: Deliver prompt and answer text (and images, embeddings). Off: metadata only, no prompt bodies stored.
    text_delivery: bool = False
    #: Repoint a logging configuration that sends elsewhere (not to aipctl's destinations).
    replace: bool = False

    @model_validator(mode="after")
    def _somewhere(self) -> InvocationLogging:
        if self.s3 is None and self.cloudwatch is None:
            raise ValueError("logging needs s3: {bucket: …} and/or cloudwatch: {log_group: …}")
        return self

    @property
    def per_placement(self) -> bool:
        """Set up in every account × Region (a bucket name with placeholders, or CloudWatch Logs alone), not only
        in the inventory's home placement."""
        return self.s3.per_placement if self.s3 is not None else True


class ModelTerms(_Strict):
    """Negotiated terms of one model (a private offer): its discount off list price."""

    discount_pct: float = Field(ge=0, lt=100)


class Pricing(_Strict):
    """What the account pays against list price (private pricing, EDP): net figures beside list ones."""

    #: Discount off list price on all Bedrock usage, in percent.
    discount_pct: float = Field(default=0.0, ge=0, lt=100)
    #: Per model alias (of ``models:``): its own discount, instead of ``discount_pct``.
    models: dict[str, ModelTerms] = Field(default_factory=dict)
    #: Credits per month (account-wide; not split by caller).
    credits_usd: float = Field(default=0.0, ge=0)


class Reconcile(_Strict):
    """How ``aipctl reconcile`` judges metered against billed spend (per caller/tenant/day)."""

    #: A row drifts when |metered - billed| exceeds both of these.
    tolerance_usd: float = Field(default=1.0, ge=0)
    tolerance_pct: float = Field(default=1.0, ge=0, le=100)
    #: Days that ended less than this long ago are not final in billing yet and are not judged.
    watermark_hours: float = Field(default=72.0, ge=0)


def _web_url(value: str, what: str) -> str:
    """https URLs; plain http only to this machine (a local relay, tests)."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if (parts.scheme != "https" and not (parts.scheme == "http" and local)) or not parts.hostname:
        raise ValueError(f"{value!r} is not an https:// URL ({what})")
    if any(ord(c) < 33 for c in value):
        raise ValueError(f"{what} URLs cannot hold spaces or control characters")
    return value


class Webhook(_Strict):
    """A chat tool's incoming webhook: `guard watch` and `guard test-alert` POST alerts to it."""

    #: The URL itself, or ``url_env``: the environment variable that holds it (webhook URLs are secrets).
    url: str | None = None
    url_env: str | None = None
    #: slack and teams: ``{"text": …}``; json: ``{"source": "aipctl", "caller", "kind", "subject", "message"}``.
    format: Literal["slack", "teams", "json"] = "json"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _web_url(value, "webhook")

    @field_validator("url_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Z_][A-Z0-9_]{0,127}$", value):
            raise ValueError(f"{value!r} is not an environment variable name (A-Z, 0-9, _)")
        return value

    @model_validator(mode="after")
    def _one(self) -> Webhook:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("a webhook needs exactly one of url and url_env")
        return self


class Alerts(_Strict):
    """Where budget notifications and alarms go."""

    sns_topic_arn: str | None = None
    #: With a topic: subscribed to it (e-mail confirms each); without: budgets e-mail them directly.
    emails: list[str] = Field(default_factory=list)
    #: HTTPS endpoints subscribed to the topic (SNS confirms each by a request to the endpoint).
    https: list[str] = Field(default_factory=list)
    webhooks: list[Webhook] = Field(default_factory=list)

    @field_validator("https")
    @classmethod
    def _https(cls, value: list[str]) -> list[str]:
        return [_web_url(url, "https subscription") for url in value]

    @model_validator(mode="after")
    def _needs_topic(self) -> Alerts:
        if self.https and not self.sns_topic_arn:
            raise ValueError("https subscriptions need sns_topic_arn (they are SNS subscriptions)")
        return self

    @field_validator("sns_topic_arn")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value is not None and not rules.SNS_TOPIC_RE.match(value):
            raise ValueError(f"{value!r} is not an SNS topic ARN such as 'arn:aws:sns:eu-central-1:123456789012:finops'")
        return value

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for email in value:
            if not rules.EMAIL_RE.match(email):
                raise ValueError(f"{email!r} is not an e-mail address")
        return value


Attribution = Literal["profile", "principal", "both"]


def _one_or_many(value: Any) -> Any:
    """``account: prod`` or ``account: [prod, staging]`` (and ``region:`` alike): always a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


class Account(_Strict):
    """One AWS account of an organization that aipctl acts in (``accounts: {prod: {id, role, regions}}``)."""

    id: str
    #: The IAM role aipctl assumes in the account (``arn:aws:iam::<id>:role/<role>``); without it, aipctl's own
    #: credentials must be in this account.
    role: str | None = None
    #: The Regions aipctl manages there (default: the inventory's ``region``); prune never reaches others.
    regions: list[str] = Field(default_factory=list)
    #: The management (payer) account: consolidated billing (Cost Explorer, CUR, cost-allocation tags) is read
    #: and set there for every account of the organization.
    billing: bool = False

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if len(str(value)) != 12:
                raise ValueError(
                    f'account id {value} is not 12 digits; quote it ("012345678901"): YAML reads unquoted numbers '
                    "with leading zeros as other numbers"
                )
            return str(value)
        return value

    @field_validator("id")
    @classmethod
    def _twelve_digits(cls, value: str) -> str:
        if not re.match(r"^\d{12}$", value):
            raise ValueError(f"{value!r} is not an AWS account id (12 digits, quoted)")
        return value

    @field_validator("role")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[\w+=,.@-]{1,64}$", value):
            raise ValueError(f"{value!r} is not an IAM role name (give the name, not the ARN)")
        return value

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        for region in value:
            if not rules.REGION_RE.match(region):
                raise ValueError(f"{region!r} is not an AWS Region name such as 'eu-central-1'")
        if len(set(value)) != len(value):
            raise ValueError("regions lists a Region twice")
        return value


class Caller(_Strict):
    """One application (or tenant) that gets its own cost line.

    ``attribution`` says on which planes: ``profile`` (an AIP per model, billed by its tags),
    ``principal`` (no AIPs: billed to its IAM principals, by their tags and session tags) or
    ``both`` (the default). ``tenants`` share the caller's identities and are told apart by the STS
    session tag ``tenant_tag`` (default ``Tenant``); each may add tags of its own.
    """

    owner: str = Field(min_length=1)
    environment: str = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    identities: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    budget: Budget | None = None
    limits: Limits | None = None
    tier: str | None = None
    attribution: Attribution = "both"
    #: Identity patterns may name roles/users with wildcards (``role/batch-*``) only when this is true.
    allow_wildcard: bool = False
    tenants: dict[str, dict[str, str]] = Field(default_factory=dict)
    tenant_tag: str = "Tenant"
    #: The accounts (aliases of ``accounts:``) and Regions the caller runs in: it gets its AIPs in each
    #: account × Region. Defaults: the only account of ``accounts:``, and each account's first Region.
    account: list[str] = Field(default_factory=list)
    region: list[str] = Field(default_factory=list)

    @field_validator("account", "region", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return _one_or_many(value)

    @field_validator("region")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        for region in value:
            if not rules.REGION_RE.match(region):
                raise ValueError(f"{region!r} is not an AWS Region name such as 'eu-central-1'")
        return list(dict.fromkeys(value))

    @field_validator("tenants", mode="before")
    @classmethod
    def _tenant_tags(cls, value: Any) -> Any:
        """``tenants: {acme: , globex: {Plan: gold}}``: a tenant without tags is a name alone."""
        if isinstance(value, list):
            return {str(name): {} for name in value}
        if isinstance(value, dict):
            return {
                key: {k: _scalar_to_str(v) for k, v in tags.items()} if isinstance(tags, dict) else ({} if tags is None else tags)
                for key, tags in value.items()
            }
        return value

    @field_validator("owner", "environment", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        return _scalar_to_str(value)

    @field_validator("owner", "environment")
    @classmethod
    def _tag_value(cls, value: str) -> str:
        problem = rules.check_tag_value(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _stringify_tags(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: _scalar_to_str(val) for key, val in value.items()}
        return value

    @field_validator("identities")
    @classmethod
    def _identity_patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not (pattern.startswith(("arn:aws:iam::", "arn:aws:sts::")) or pattern.startswith("arn:aws-")):
                raise ValueError(
                    f"identity {pattern!r} must be an IAM/STS ARN pattern such as "
                    "'arn:aws:iam::*:role/my-task-role' (wildcards * and ? allowed)"
                )
        return value


class Inventory(_Strict):
    """The whole inventory file."""

    version: Literal[1] = 1
    name: str = Field(default="default", description="Marks which AIPs this inventory owns")
    region: str
    name_prefix: str = ""
    cost_tags: list[str] = Field(default_factory=lambda: list(rules.STANDARD_TAG_KEYS))
    models: dict[str, str] = Field(min_length=1)
    #: Per Region, another model id for an alias where the geography rule (``eu.x`` is ``us.x`` in us-east-1) does not
    #: fit: ``region_models: {ap-southeast-2: {sonnet: au.anthropic.claude-sonnet-4-6}}``.
    region_models: dict[str, dict[str, str]] = Field(default_factory=dict)
    callers: dict[str, Caller] = Field(default_factory=dict)
    #: Budget notifications and alarm actions (AWS Budgets, CloudWatch alarms, `aipctl guard watch`).
    alerts: Alerts | None = None
    #: Priority tier -> weight (share of a throttled quota); defaults: platinum 8, gold 4, silver 2, bronze 1.
    tiers: dict[str, float] = Field(default_factory=lambda: {"platinum": 8.0, "gold": 4.0, "silver": 2.0, "bronze": 1.0})
    #: Per tier, the budget and limits its callers inherit (the mapping form of ``tiers``).
    tier_defaults: dict[str, Tier] = Field(default_factory=dict)
    #: Tolerances and watermark of `aipctl reconcile` (metered vs billed).
    reconcile: Reconcile = Field(default_factory=Reconcile)
    #: Model invocation logging (what `meter` and `verify --source logs` read), planned and applied.
    logging: InvocationLogging | None = None
    #: Negotiated prices (discounts, credits): the report's net figures.
    pricing: Pricing | None = None
    #: The accounts of an organization aipctl acts in (alias -> id, role, Regions); without it, the one account
    #: of aipctl's credentials.
    accounts: dict[str, Account] = Field(default_factory=dict)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not rules.REGION_RE.match(value):
            raise ValueError(f"{value!r} is not an AWS Region name such as 'eu-central-1'")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        problem = rules.check_identifier(value, "inventory name")
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("name_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and not rules.PROFILE_NAME_RE.match(value + "x"):
            raise ValueError("name_prefix must be letters/digits with single '-', '_' or ' ' separators")
        return value


@dataclass(frozen=True)
class ModelSource:
    """Where an AIP copies its model from: a system-defined profile or a foundation model."""

    kind: Literal["system-profile", "foundation-model"]
    model_id: str
    #: Set when the inventory gave a full ARN; otherwise built from Region and account at plan time.
    arn: str | None = None

    def copy_from(self, region: str, account: str, partition: str = "aws") -> str:
        """The ``modelSource.copyFrom`` ARN for this source in ``region`` of ``account``."""
        if self.arn:
            return self.arn
        if self.kind == "system-profile":
            return f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{self.model_id}"
        return f"arn:{partition}:bedrock:{region}::foundation-model/{self.model_id}"


def parse_model_source(value: str, region: str) -> ModelSource:
    """Classify an inventory model entry; raise ValueError with a user-facing message."""
    if value.startswith("arn:"):
        parts = rules.parse_bedrock_arn(value)
        if parts is None:
            raise ValueError(f"{value!r} is not a Bedrock ARN")
        if parts["type"] == "application-inference-profile":
            raise ValueError(
                "an application inference profile cannot copy from another application inference profile; "
                "use the system-defined profile or foundation model it was made from"
            )
        if parts["type"] not in ("inference-profile", "foundation-model"):
            raise ValueError(f"copyFrom must be an 'inference-profile/...' or 'foundation-model/...' ARN, not {parts['type']!r}")
        if parts["region"] != region:
            raise ValueError(f"ARN is in Region {parts['region']!r} but the inventory's region is {region!r}")
        kind: Literal["system-profile", "foundation-model"] = (
            "system-profile" if parts["type"] == "inference-profile" else "foundation-model"
        )
        return ModelSource(kind=kind, model_id=parts["id"], arn=value)
    if rules.is_system_profile_id(value):
        return ModelSource(kind="system-profile", model_id=value)
    if rules.is_foundation_model_id(value):
        return ModelSource(kind="foundation-model", model_id=value)
    raise ValueError(
        f"{value!r} is neither a system-defined profile id (e.g. 'eu.anthropic.claude-sonnet-4-6'), "
        "a foundation model id (e.g. 'amazon.titan-embed-text-v2:0') nor a Bedrock ARN"
    )
