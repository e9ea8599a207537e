# ruff: noqa: E501  (SQL reads better unwrapped)
"""CUR 2.0 into the ledger: the bill of record, per line item, attributed to callers and tenants.

CUR 2.0 rewrites a billing period's files as the month goes on (and for two weeks after it). The
ledger keeps one *revision* per export and billing period: files are grouped by their
``data/BILLING_PERIOD=YYYY-MM/`` partition (and, for exports that create a new report at every
refresh, by the newest refresh folder); a revision is the set of those files with their sizes and
versions. When a period's revision changes, its old lines are deleted and the new ones inserted
in one transaction, so a revision is never counted twice and a kill leaves the previous one whole.

Each line is attributed like an invocation-log record: by its resource (an AIP of ours), else by
the AIP's ``Application`` tag (``resource_tags['user_Application']``, for AIPs deleted since), else
by its IAM principal (``line_item_iam_principal``) against the inventory's identity patterns; a
tenant is the session name of an assumed-role principal, when it is one of its caller's tenants.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection as Connection

    from aipctl.aws.target import Target

from aipctl._exceptions import UsageError
from aipctl.inventory import LoadedInventory, rules
from aipctl.meter.sql import UNATTRIBUTED, Lookups, _lit, _values
from aipctl.progress import NO_PROGRESS, Progress

CUR_SUFFIXES = (".parquet",)
_PARTITION = re.compile(r"^(?P<root>.*?)/data/BILLING_PERIOD=(?P<period>\d{4}-\d{2})(?:/(?P<folder>.+))?/[^/]+$")
#: CUR 2.0 columns the ingest reads; the optional ones are NULL when an export left them out.
#: A usage type's token kind, in both of the Price List's grammars: Marketplace models
#: ``USE1-MP:USE1_CacheWrite1hInputTokenCount_Global-Units`` or ``USE1_cache_write_tokens_1h_standard``, Amazon's
#: ``USE1-NovaPro-cache-read-input-token-count``.
TOKEN_KIND_SQL = """CASE
    WHEN regexp_matches(lower({column}), 'cache.?read') THEN 'cache_read'
    WHEN regexp_matches(lower({column}), 'cache.?write.?(tokens.?)?1h') THEN 'cache_write_1h'
    WHEN regexp_matches(lower({column}), 'cache.?write') THEN 'cache_write'
    WHEN lower({column}) LIKE '%output%' THEN 'output' WHEN lower({column}) LIKE '%input%' THEN 'input' END"""
REQUIRED = ("line_item_usage_start_date", "line_item_usage_type", "line_item_unblended_cost")
OPTIONAL = {
    "identity_line_item_id": "VARCHAR",
    "bill_billing_period_start_date": "TIMESTAMP",
    "line_item_line_item_type": "VARCHAR",
    "line_item_usage_account_id": "VARCHAR",
    "line_item_product_code": "VARCHAR",
    "line_item_resource_id": "VARCHAR",
    "line_item_iam_principal": "VARCHAR",
    "line_item_usage_amount": "DOUBLE",
    "line_item_net_unblended_cost": "DOUBLE",
    "product_region_code": "VARCHAR",
    "resource_tags": "MAP(VARCHAR, VARCHAR)",
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS bill_revisions (
    root VARCHAR NOT NULL,            -- the export: s3://bucket/prefix/name or a local folder
    billing_period VARCHAR NOT NULL,  -- YYYY-MM
    revision VARCHAR NOT NULL,        -- hash of the revision's files (name, size, version)
    files INTEGER, lines BIGINT, ingested_at TIMESTAMPTZ,
    PRIMARY KEY (root, billing_period)
);
CREATE TABLE IF NOT EXISTS bill_lines (
    root VARCHAR NOT NULL,
    billing_period VARCHAR NOT NULL,
    line_item_id VARCHAR,
    usage_start TIMESTAMPTZ NOT NULL,
    account VARCHAR,
    region VARCHAR,
    line_item_type VARCHAR,
    product_code VARCHAR,
    usage_type VARCHAR,
    token_kind VARCHAR,               -- input | output | cache_read | cache_write | cache_write_1h (from the usage type)
    resource_id VARCHAR,
    principal_arn VARCHAR,
    caller VARCHAR NOT NULL,
    tenant VARCHAR,
    attributed_by VARCHAR NOT NULL,   -- aip | tag | identity | none
    base_model VARCHAR,
    usage_amount DOUBLE,
    unblended_cost DOUBLE,
    net_unblended_cost DOUBLE
);
"""


@dataclass(frozen=True)
class CurFile:
    name: str  # s3://bucket/key or a local path
    size: int
    version: str  # ETag, or the local file's mtime
    modified: float
    fetch: Callable[[], bytes] | None = None  # None: a local file DuckDB reads itself

    @property
    def partition(self) -> tuple[str, str, str]:
        """(export root, billing period, refresh folder); files outside the layout are their own root."""
        found = _PARTITION.match(self.name)
        if found is None:
            return self.name, "*", ""
        return found["root"], found["period"], found["folder"] or ""


@dataclass(frozen=True)
class CurResult:
    periods: int  # billing periods whose revision was new
    unchanged: int  # billing periods already in the ledger at this revision
    files: int
    lines: int  # lines of the new revisions
    replaced_lines: int  # lines of the revisions they replaced

    def to_dict(self) -> dict[str, int]:
        return {
            "billing_periods": self.periods,
            "unchanged_periods": self.unchanged,
            "files": self.files,
            "lines": self.lines,
            "replaced_lines": self.replaced_lines,
        }


def local_files(source: str) -> list[CurFile]:
    root = Path(source)
    paths = sorted(p for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file() and p.name.endswith(CUR_SUFFIXES))
    return [CurFile(str(p.resolve()), p.stat().st_size, str(p.stat().st_mtime_ns), p.stat().st_mtime) for p in paths]


def s3_files(source: str, target: Target) -> list[CurFile]:
    from aipctl.aws.exports import CurFiles
    from aipctl.aws.s3logs import parse_s3_uri

    files = CurFiles(target)
    bucket, _ = parse_s3_uri(source)
    return [
        CurFile(f"s3://{bucket}/{o.key}", o.size, o.etag, o.modified, partial(files.read, bucket, o.key))
        for o in files.list(source, CUR_SUFFIXES)
    ]


def revisions(files: Sequence[CurFile]) -> dict[tuple[str, str], list[CurFile]]:
    """The files of each (export root, billing period)'s newest revision."""
    grouped: dict[tuple[str, str], dict[str, list[CurFile]]] = defaultdict(lambda: defaultdict(list))
    for file in files:
        root, period, folder = file.partition
        grouped[(root, period)][folder].append(file)
    out = {}
    for key, folders in grouped.items():
        newest = max(folders, key=lambda f: (max(x.modified for x in folders[f]), f))
        out[key] = sorted(folders[newest], key=lambda f: f.name)
    return out


def revision_id(files: Sequence[CurFile]) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.name}\0{file.size}\0{file.version}\n".encode())
    return digest.hexdigest()[:32]


def _columns(con: Connection, relation: str) -> dict[str, str]:
    return {str(row[0]): str(row[1]) for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def attributed_lines(relation: str, present: dict[str, str], lookups: Lookups, callers: Sequence[str]) -> str:
    """The SQL that turns CUR 2.0 rows of ``relation`` into ledger lines (Bedrock usage only)."""
    col = {name: (name if name in present else f"CAST(NULL AS {kind})") for name, kind in OPTIONAL.items()}
    tag = (
        f"element_at(s.resource_tags, {_lit('user_' + rules.TAG_APPLICATION)})[1]"
        if "resource_tags" in present
        else "CAST(NULL AS VARCHAR)"
    )
    known = _values("ours", ("caller",), ("VARCHAR",), [(c,) for c in callers])
    principal = "p.principal_arn"
    role = (  # the role behind an assumed-role session ARN
        f"CASE WHEN {principal} LIKE 'arn:%:sts::%:assumed-role/%' THEN 'arn:' || split_part({principal}, ':', 2) || ':iam::' "
        f"|| split_part({principal}, ':', 5) || ':role/' || split_part({principal}, '/', 2) END"
    )
    return f"""WITH {lookups.aip_cte()}, {known},
src AS (
    SELECT {col["identity_line_item_id"]} AS line_item_id, CAST(line_item_usage_start_date AS TIMESTAMPTZ) AS usage_start,
           {col["line_item_usage_account_id"]} AS account, {col["product_region_code"]} AS region,
           coalesce({col["line_item_line_item_type"]}, 'Usage') AS line_item_type, {col["line_item_product_code"]} AS product_code,
           line_item_usage_type AS usage_type, nullif({col["line_item_resource_id"]}, '') AS resource_id,
           nullif({col["line_item_iam_principal"]}, '') AS principal_arn, {tag} AS tag_application,
           {col["line_item_usage_amount"]} AS usage_amount, CAST(line_item_unblended_cost AS DOUBLE) AS unblended_cost,
           coalesce({col["line_item_net_unblended_cost"]}, CAST(line_item_unblended_cost AS DOUBLE)) AS net_unblended_cost,
           strftime(coalesce({col["bill_billing_period_start_date"]}, CAST(line_item_usage_start_date AS TIMESTAMP)), '%Y-%m') AS period
    FROM {relation} AS s
    WHERE {col["line_item_product_code"]} = 'AmazonBedrock' OR {col["line_item_product_code"]} IS NULL
       OR line_item_usage_type LIKE '%-tokens%' OR line_item_usage_type LIKE '%Token%'
),
-- attribution is worked out once per distinct principal (CUR has many lines per principal)
who AS MATERIALIZED (
    SELECT principal_arn, {lookups.identity_case("p.principal_arn", role)} AS id_caller
    FROM (SELECT DISTINCT principal_arn FROM src WHERE principal_arn IS NOT NULL) AS p
),
named AS (
    SELECT p.*, m.caller AS aip_caller, m.base_model AS base_model,
           CASE WHEN m.caller IS NULL AND p.tag_application IN (SELECT caller FROM ours) THEN p.tag_application END AS tag_caller,
           CASE WHEN m.caller IS NULL THEN w.id_caller END AS id_caller
    FROM src AS p LEFT JOIN aip_map AS m ON m.key = p.resource_id LEFT JOIN who AS w ON w.principal_arn = p.principal_arn
),
owned AS (SELECT *, coalesce(aip_caller, tag_caller, id_caller) AS owner FROM named),
tenancy AS MATERIALIZED (
    SELECT owner, principal_arn, {lookups.tenant_case("owner", "principal_arn")} AS tenant
    FROM (SELECT DISTINCT owner, principal_arn FROM owned WHERE owner IS NOT NULL AND principal_arn IS NOT NULL)
)
SELECT o.line_item_id, o.usage_start, o.account, o.region, o.line_item_type, o.product_code, o.usage_type,
       {TOKEN_KIND_SQL.format(column="o.usage_type")} AS token_kind,
       o.resource_id, o.principal_arn, coalesce(o.owner, {_lit(UNATTRIBUTED)}) AS caller, t.tenant,
       CASE WHEN o.aip_caller IS NOT NULL THEN 'aip' WHEN o.tag_caller IS NOT NULL THEN 'tag'
            WHEN o.id_caller IS NOT NULL THEN 'identity' ELSE 'none' END AS attributed_by,
       o.base_model, o.usage_amount, o.unblended_cost, o.net_unblended_cost, o.period
FROM owned AS o LEFT JOIN tenancy AS t ON t.owner = o.owner AND t.principal_arn = o.principal_arn"""


def ingest_cur(
    con: Connection,
    files: Sequence[CurFile],
    lookups: Lookups,
    loaded: LoadedInventory | None,
    *,
    progress: Progress = NO_PROGRESS,
) -> CurResult:
    """Each (export, billing period)'s newest revision replaces the one in the ledger, in one transaction each."""
    import tempfile

    con.execute(SCHEMA)
    callers = sorted(loaded.inventory.callers) if loaded else []
    stored = {(r, p): rev for r, p, rev in con.execute("SELECT root, billing_period, revision FROM bill_revisions").fetchall()}
    groups = revisions(files)
    periods = unchanged = lines = replaced = used = 0
    for done, ((root, period), members) in enumerate(sorted(groups.items()), start=1):
        revision = revision_id(members)
        if stored.get((root, period)) == revision:
            unchanged += 1
            progress("ingesting CUR", done, len(groups))
            continue
        with tempfile.TemporaryDirectory(prefix="aipctl-cur-") as scratch:
            paths = []
            for index, file in enumerate(members):
                if file.fetch is None:
                    paths.append(file.name)
                    continue
                staged = Path(scratch) / f"{index}.parquet"
                staged.write_bytes(file.fetch())
                paths.append(str(staged))
            relation = "read_parquet([" + ", ".join(_lit(p) for p in paths) + "], union_by_name = true)"
            try:
                present = _columns(con, relation)
            except Exception as exc:  # duckdb.Error: not Parquet, truncated, ...
                raise UsageError(f"{members[0].name}: not a readable CUR 2.0 Parquet file ({str(exc).splitlines()[0]})") from None
            missing = [c for c in REQUIRED if c not in present]
            if missing:
                raise UsageError(
                    f"{members[0].name}: not CUR 2.0 data (no {', '.join(missing)}); "
                    "`aipctl cur setup` creates an export with the columns aipctl reads"
                )
            select = attributed_lines(relation, present, lookups, callers)
            con.execute("BEGIN TRANSACTION")
            try:
                gone = con.execute("DELETE FROM bill_lines WHERE root = ? AND billing_period = ?", [root, period]).fetchone()
                added = con.execute(
                    f"INSERT INTO bill_lines SELECT {_lit(root)}, CASE WHEN {_lit(period)} = '*' THEN period ELSE {_lit(period)} END, "
                    f"* EXCLUDE (period) FROM ({select})"
                ).fetchone()
                count = int(added[0]) if added else 0
                con.execute(
                    "INSERT OR REPLACE INTO bill_revisions VALUES (?, ?, ?, ?, ?, now())",
                    [root, period, revision, len(members), count],
                )
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
        periods += 1
        used += len(members)
        lines += count
        replaced += int(gone[0]) if gone else 0
        progress("ingesting CUR", done, len(groups))
    return CurResult(periods, unchanged, used, lines, replaced)


def has_lines(con: Connection) -> bool:
    con.execute(SCHEMA)
    row = con.execute("SELECT count(*) FROM bill_lines").fetchone()
    return bool(row and row[0])


__all__ = ["CUR_SUFFIXES", "CurFile", "CurResult", "has_lines", "ingest_cur", "local_files", "s3_files"]
