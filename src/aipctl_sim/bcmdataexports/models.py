"""CUR 2.0 exports and their deliveries.

An export is refreshed once per emulated day (AWS: "at least once a day"): the first read of S3
after a day began delivers every billing period still open for revision — the current month, and
the previous one for 14 days after it closed ("AWS can update the previous billing period's export
delivery within the first two weeks") — from the calls the emulator recorded, with the billing lag
applied. The export's own SQL runs in DuckDB over a ``COST_AND_USAGE_REPORT`` table built from
those calls, with external access off, so the delivered columns and rows are what the query asks.

Layout (AWS Data Exports user guide, "Understanding export delivery")::

    s3://<bucket>/<prefix>/<export>/data/BILLING_PERIOD=YYYY-MM/<export>-00001.snappy.parquet
    s3://<bucket>/<prefix>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json

``OVERWRITE_REPORT`` replaces a period's file at every refresh; ``CREATE_NEW_REPORT`` writes each
refresh under its own folder ``data/BILLING_PERIOD=YYYY-MM/<YYYYMMDDTHHMMSSZ>-<execution id>/``
(the emulator's choice of folder name, see docs/decisions.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend
from moto.moto_api._internal import mock_random

from aipctl_sim import journal, settings, telemetry
from aipctl_sim.bcmdataexports.schema import MAP, OPTIONAL, TABLE, TABLE_PROPERTIES, columns_of
from aipctl_sim.protocol import ResourceNotFoundException, ValidationException

SERVICE_PRINCIPAL = "bcm-data-exports.amazonaws.com"
NAME_RE = re.compile(r"^[0-9A-Za-z\-_]{1,128}$")
#: How long a closed billing period is still revised.
REVISION_DAYS = 14
_lock = threading.Lock()


@dataclass
class Execution:
    execution_id: str
    created_at: dt.datetime
    status_code: str = "DELIVERY_SUCCESS"
    files: list[str] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        return {
            "StatusCode": self.status_code,
            "CreatedAt": self.created_at,
            "CompletedAt": self.created_at,
            "LastUpdatedAt": self.created_at,
        }

    def describe(self) -> dict[str, Any]:
        return {"ExecutionId": self.execution_id, "ExecutionStatus": self.status()}


@dataclass
class Export:
    arn: str
    name: str
    description: str
    query: str
    properties: dict[str, str]
    destination: dict[str, Any]
    created_at: dt.datetime
    tags: list[dict[str, str]] = field(default_factory=list)
    updated_at: dt.datetime | None = None
    last_refresh: dt.datetime | None = None
    executions: list[Execution] = field(default_factory=list)

    @property
    def output(self) -> dict[str, str]:
        return dict(self.destination["S3OutputConfigurations"])

    def describe(self) -> dict[str, Any]:
        return {
            "ExportArn": self.arn,
            "Name": self.name,
            "Description": self.description,
            "DataQuery": {"QueryStatement": self.query, "TableConfigurations": {TABLE: dict(self.properties)}},
            "DestinationConfigurations": {"S3Destination": dict(self.destination)},
            "RefreshCadence": {"Frequency": "SYNCHRONOUS"},
        }

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "StatusCode": "HEALTHY",
            "CreatedAt": self.created_at,
            "LastUpdatedAt": self.updated_at or self.created_at,
        }
        if self.last_refresh is not None:
            out["LastRefreshedAt"] = self.last_refresh
        return out


class DataExportsSimBackend(BaseBackend):
    """The exports of one account (Data Exports is a global service, served from us-east-1)."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.exports: dict[str, Export] = {}

    # -- the API -------------------------------------------------------------------------------
    def create(self, spec: dict[str, Any], tags: list[dict[str, str]]) -> Export:
        name = str(spec.get("Name", ""))
        if not NAME_RE.match(name):
            raise ValidationException(f"Export name {name!r} must be 1-128 of letters, digits, '-' and '_'")
        if any(e.name == name for e in self.exports.values()):
            raise ValidationException(f"An export named {name} already exists")
        query, properties, destination = self._validated(spec)
        arn = f"arn:aws:bcm-data-exports:us-east-1:{self.account_id}:export/{name}-{mock_random.uuid4()}"
        export = Export(arn, name, str(spec.get("Description", "")), query, properties, destination, settings.now(), tags)
        self.exports[arn] = export
        return export

    def update(self, arn: str, spec: dict[str, Any]) -> Export:
        export = self.get(arn)
        if spec.get("Name") not in (None, export.name):
            raise ValidationException("An export's name cannot be changed")
        export.query, export.properties, export.destination = self._validated(spec)
        export.description = str(spec.get("Description", export.description))
        export.updated_at = settings.now()
        return export

    def get(self, arn: str) -> Export:
        export = self.exports.get(arn)
        if export is None:
            raise ResourceNotFoundException(f"Export {arn} not found")
        return export

    def delete(self, arn: str) -> str:
        self.get(arn)
        del self.exports[arn]
        return arn

    def _validated(self, spec: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
        query = str(spec["DataQuery"]["QueryStatement"]).strip().rstrip(";")
        configs = spec["DataQuery"].get("TableConfigurations") or {}
        unknown_tables = sorted(set(configs) - {TABLE})
        if unknown_tables:
            raise ValidationException(f"Unsupported table(s) {', '.join(unknown_tables)}: the emulator serves {TABLE}")
        properties = {k: str(v).upper() if k != "BILLING_VIEW_ARN" else str(v) for k, v in (configs.get(TABLE) or {}).items()}
        for key, value in properties.items():
            if key not in TABLE_PROPERTIES:
                raise ValidationException(f"Unknown table property {key} for {TABLE}")
            valid = TABLE_PROPERTIES[key][1]
            if valid and value not in valid:
                raise ValidationException(f"Table property {key} must be one of {', '.join(valid)}, not {value!r}")
        properties = {k: d for k, (d, _) in TABLE_PROPERTIES.items() if d} | properties
        if not re.match(rf"(?is)^\s*select\s.+\sfrom\s+{TABLE}\b", query):
            raise ValidationException(f"QueryStatement must be SELECT <columns> FROM {TABLE} [WHERE ...]")
        _run_query(query, properties, [])  # unknown columns and bad SQL fail here, as CreateExport does
        destination = dict(spec["DestinationConfigurations"]["S3Destination"])
        output = destination["S3OutputConfigurations"]
        if (output["Format"], output["Compression"]) not in (("PARQUET", "PARQUET"), ("TEXT_OR_CSV", "GZIP")):
            raise ValidationException(
                f"Format {output['Format']} with Compression {output['Compression']} is not supported "
                "(PARQUET with PARQUET, or TEXT_OR_CSV with GZIP)"
            )
        _check_bucket(self.account_id, str(destination["S3Bucket"]))
        return query, properties, destination


def _check_bucket(account: str, bucket: str) -> None:
    """AWS checks at creation that Data Exports may write to the bucket."""
    from moto.s3.models import s3_backends

    try:
        found = s3_backends[account]["aws"].get_bucket(bucket)
    except Exception:
        raise ValidationException(f"S3 bucket {bucket} does not exist") from None
    policy = found.policy.decode() if isinstance(found.policy, bytes) else str(found.policy or "")
    try:
        statements = json.loads(policy).get("Statement", []) if policy else []
    except ValueError:
        statements = []
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = statement.get("Principal", {})
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        actions = statement.get("Action", [])
        services = [services] if isinstance(services, str) else services
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") == "Allow" and SERVICE_PRINCIPAL in services and "s3:PutObject" in actions:
            return
    raise ValidationException(
        f"The bucket policy of {bucket} must allow {SERVICE_PRINCIPAL} to s3:PutObject (and s3:GetBucketPolicy)"
    )


# ---------------------------------------------------------------------------------- rows
def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _stamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _bucket(granularity: str, ts: float, period: dt.date) -> tuple[dt.datetime, dt.datetime]:
    at = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    if granularity == "HOURLY":
        start = at.replace(minute=0, second=0, microsecond=0)
        return start, start + dt.timedelta(hours=1)
    if granularity == "DAILY":
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + dt.timedelta(days=1)
    start = dt.datetime.combine(period, dt.time(), dt.timezone.utc)
    return start, dt.datetime.combine(_next_month(period), dt.time(), dt.timezone.utc)


def line_items(account: str, period: dt.date, granularity: str, visible_until: float) -> list[dict[str, Any]]:
    """The period's Bedrock line items: one per usage hour (day, month) × principal × AIP × model route × service tier
    × token kind, priced and named as Cost Explorer bills them (``aipctl_sim.ce.billing``)."""
    from aipctl_sim.bedrock.catalog import catalog
    from aipctl_sim.ce.billing import KINDS, net_factor, split_tokens
    from aipctl_sim.organizations import members
    from aipctl_sim.pricing.rates import rate, route_of

    start = dt.datetime.combine(period, dt.time(), dt.timezone.utc)
    end = dt.datetime.combine(_next_month(period), dt.time(), dt.timezone.utc)
    rows = []
    for member in members(account):  # a management account's CUR has every member's usage (consolidated billing)
        rows += telemetry.store().query(
            "SELECT account, ts, region, base_model, geo, aip_arn, principal_arn, cost_tags, "
            "COALESCE(service_tier, 'default'), input_tokens, output_tokens, cache_read, cache_write, cache_write_1h "
            "FROM calls WHERE account = ? AND status = 'ok' AND ts >= ? AND ts < ?",
            (member, start.timestamp(), min(end.timestamp(), visible_until)),
        )
    sums: dict[tuple[Any, ...], list[int]] = {}
    for usage_account, ts, region, model_id, geo, aip, principal, cost_tags, tier, *tokens in rows:
        first, last = _bucket(granularity, ts, period)
        key = (first, last, usage_account, region, model_id, geo, aip or "", principal, cost_tags or "", tier)
        total = sums.setdefault(key, [0, 0, 0, 0, 0])
        for i, count in enumerate(split_tokens(*(int(n or 0) for n in tokens))):
            total[i] += count
    items = []
    net = float(net_factor())
    for (first, last, usage_account, region, model_id, geo, aip, principal, cost_tags, tier), tokens in sorted(
        sums.items(), key=lambda kv: str(kv[0])
    ):
        model = catalog().models.get(model_id)
        if model is None:
            continue
        active = json.loads(cost_tags) if cost_tags else {}
        resource_tags = {f"user_{k}": v for k, v in active.items() if not k.startswith("iamPrincipal/")}
        all_tags = resource_tags | {k: v for k, v in active.items() if k.startswith("iamPrincipal/")}
        for kind, count in zip(KINDS, tokens, strict=True):
            found = rate(model_id, region, route_of(geo), tier, kind)
            if not count or found is None:
                continue
            per_unit = float(found.price_per_unit)
            amount = count / found.unit_tokens
            cost = round(per_unit * amount, 10)
            identity = hashlib.sha256(
                f"{first}|{usage_account}|{region}|{model_id}|{geo}|{aip}|{principal}|{cost_tags}|{tier}|{kind}".encode()
            ).hexdigest()
            items.append(
                {
                    "identity_line_item_id": identity[:52],
                    "identity_time_interval": f"{_stamp(first)}/{_stamp(last)}",
                    "bill_bill_type": "Anniversary",
                    "bill_billing_entity": "AWS",
                    "bill_billing_period_end_date": _stamp(end),
                    "bill_billing_period_start_date": _stamp(start),
                    "bill_invoicing_entity": "Amazon Web Services, Inc.",
                    "bill_payer_account_id": account,
                    "line_item_blended_cost": cost,
                    "line_item_currency_code": "USD",
                    "line_item_iam_principal": principal,
                    "line_item_line_item_description": f"{model.billing_service}: {found.usage_type} ({found.unit})",
                    "line_item_line_item_type": "Usage",
                    "line_item_net_unblended_cost": round(cost * net, 10),
                    "line_item_operation": "Usage",
                    "line_item_product_code": "AmazonBedrock",
                    "line_item_resource_id": aip,
                    "line_item_unblended_cost": cost,
                    "line_item_unblended_rate": f"{per_unit:.10f}".rstrip("0"),
                    "line_item_usage_account_id": usage_account,
                    "line_item_usage_amount": amount,
                    "line_item_usage_end_date": _stamp(last),
                    "line_item_usage_start_date": _stamp(first),
                    "line_item_usage_type": found.usage_type,
                    "pricing_unit": found.unit,
                    "product": {"product_name": model.billing_service, "region": region, "servicecode": "AmazonBedrock"},
                    "product_region_code": region,
                    "product_servicecode": "AmazonBedrock",
                    "resource_tags": resource_tags,
                    "tags": all_tags,
                }
            )
    return items


def _run_query(
    query: str, properties: dict[str, str], items: list[dict[str, Any]], out: Path | None = None, fmt: str = "PARQUET"
) -> None:
    """Run an export's query over ``items`` in DuckDB (no file access beyond ``out``); write the result to ``out``."""
    import duckdb

    columns = columns_of(properties)
    con = duckdb.connect(":memory:")
    try:
        with tempfile.TemporaryDirectory(prefix="aipctl-cur-") as scratch:
            rows = Path(scratch) / "rows.jsonl"
            rows.write_text("".join(json.dumps({k: item[k] for k in columns}) + "\n" for item in items))
            spec = ", ".join(f"'{name}': '{'JSON' if kind == MAP else kind}'" for name, kind in columns.items())
            select = ", ".join(f"CAST({name} AS {MAP}) AS {name}" if kind == MAP else name for name, kind in columns.items())
            con.execute(
                f"CREATE TABLE {TABLE} AS SELECT {select} FROM read_json('{rows}', format = 'newline_delimited', "
                f"columns = {{{spec}}})"
            )
            target = out or Path(scratch) / "none"
            con.execute(f"SET allowed_directories = ['{target.parent}']")
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            if out is None:
                con.execute(f"SELECT * FROM ({query}) LIMIT 0").fetchall()
                return
            options = "FORMAT PARQUET, COMPRESSION SNAPPY" if fmt == "PARQUET" else "FORMAT CSV, HEADER, COMPRESSION GZIP"
            con.execute(f"COPY ({query}) TO '{out}' ({options})")
    except duckdb.Error as exc:
        raise ValidationException(f"QueryStatement is not valid for {TABLE}: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()


# ---------------------------------------------------------------------------------- delivery
def _put(account: str, bucket: str, key: str, body: bytes) -> bool:
    from aipctl_sim.runtime.logs import deliver_object

    return deliver_object(account, bucket, key, body, "CUR 2.0 export")


def _periods(export: Export, now: dt.datetime) -> list[dt.date]:
    """Billing periods still open for revision, from the export's creation on."""
    periods, period = [], _month(export.created_at.date())
    while period <= now.date():
        closes = dt.datetime.combine(_next_month(period), dt.time(), dt.timezone.utc) + dt.timedelta(days=REVISION_DAYS)
        if now < closes:
            periods.append(period)
        period = _next_month(period)
    return periods


def deliver(account: str, export: Export, now: dt.datetime) -> Execution:
    """One refresh of ``export``: every open billing period written again from the calls recorded so far."""
    execution = Execution(str(mock_random.uuid4()), now)
    dest = export.destination
    output = export.output
    prefix = "/".join(p for p in (str(dest.get("S3Prefix", "")).strip("/"), export.name) if p)
    parquet = output["Format"] == "PARQUET"
    visible_until = now.timestamp() - settings.settings().billing_lag_hours * 3600
    for period in _periods(export, now):
        partition = f"BILLING_PERIOD={period:%Y-%m}"
        folder = f"{prefix}/data/{partition}"
        if output["Overwrite"] == "CREATE_NEW_REPORT":
            folder += f"/{now:%Y%m%dT%H%M%SZ}-{execution.execution_id}"
        name = f"{export.name}-00001.snappy.parquet" if parquet else f"{export.name}-00001.csv.gz"
        items = line_items(account, period, export.properties.get("TIME_GRANULARITY", "HOURLY"), visible_until)
        with tempfile.TemporaryDirectory(prefix="aipctl-cur-") as scratch:
            out = Path(scratch) / name
            _run_query(export.query, export.properties, items, out, "PARQUET" if parquet else "CSV")
            body = out.read_bytes()
        key = f"{folder}/{name}"
        if not _put(account, str(dest["S3Bucket"]), key, body):
            execution.status_code = "DELIVERY_FAILURE"
            break
        execution.files.append(f"s3://{dest['S3Bucket']}/{key}")
        manifest = {
            "exportArn": export.arn,
            "exportName": export.name,
            "executionId": execution.execution_id,
            "billingPeriod": {"start": f"{period:%Y-%m-%d}", "end": f"{_next_month(period):%Y-%m-%d}"},
            "deliveredAt": _stamp(now),
            "queryStatement": export.query,
            "dataFiles": [f"s3://{dest['S3Bucket']}/{key}"],
            "columns": [
                {"name": c, "type": t}
                for c, t in columns_of(export.properties).items()
                if c not in OPTIONAL or c in export.query or "*" in export.query
            ],
        }
        _put(
            account,
            str(dest["S3Bucket"]),
            f"{prefix}/metadata/{partition}/{export.name}-Manifest.json",
            json.dumps(manifest, indent=2).encode(),
        )
    export.executions.append(execution)
    export.last_refresh = now
    return execution


def deliver_due() -> int:
    """Refresh every export whose last refresh was before today (emulated clock); the number refreshed."""
    if journal.replaying():
        return 0  # replay repeats the deliveries' own journaled S3 puts
    now = settings.now()
    done = 0
    with _lock:
        for account, regions in list(exports_sim_backends.items()):
            for backend in list(regions.values()):
                for export in list(backend.exports.values()):
                    if export.last_refresh is None or export.last_refresh.date() < now.date() or _stale(export, now):
                        deliver(account, export, now)
                        done += 1
    return done


def _stale(export: Export, now: dt.datetime) -> bool:
    """A refresh is also due once a day has passed since the last (the emulated clock may move in steps)."""
    assert export.last_refresh is not None
    return now - export.last_refresh >= dt.timedelta(days=1)


exports_sim_backends = BackendDict(DataExportsSimBackend, "bcm-data-exports", use_boto3_regions=False, additional_regions=["aws"])


def exports_backend(account_id: str) -> DataExportsSimBackend:
    return exports_sim_backends[account_id]["aws"]
