# ruff: noqa: E501  (SQL reads better unwrapped)
"""The ledger's SQL, written once: attribution and pricing of invocation-log records.

:func:`attributed_select` is plain SQL that DuckDB runs during ingest and that sqlglot
transpiles to Athena (Trino) for data beyond one machine. Its lookup data (AIP -> caller and
model, model × geo -> prices, request id -> CloudTrail identity) is inlined as ``VALUES``, so the
text is self-contained in both engines. Only functions both dialects share are used
(``split_part``, ``regexp_extract``, ``substr``, ``LIKE … ESCAPE``; no backreferences).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aipctl.inventory import LoadedInventory, rules
from aipctl.inventory.rules import GEO_PREFIXES
from aipctl.pricing import TIERS, ModelRef, Unpriced, price_book

#: The caller of a record neither an AIP nor an identity pattern attributes.
UNATTRIBUTED = "unattributed"

#: The columns of an invocation-log record that metering reads (schema 1.0), as DuckDB types.
RECORD_COLUMNS = {
    "requestId": "VARCHAR",
    "timestamp": "VARCHAR",
    "accountId": "VARCHAR",
    "region": "VARCHAR",
    "operation": "VARCHAR",
    "modelId": "VARCHAR",
    "identity": "STRUCT(arn VARCHAR)",
    # the request's service tier (Converse) and the cache writes by TTL (Converse cacheDetails, Anthropic's
    # cache_creation) are in the bodies; InvokeModel's tier is a header, which the log does not carry
    "input": "STRUCT(inputTokenCount BIGINT, cacheReadInputTokenCount BIGINT, cacheWriteInputTokenCount BIGINT, "
    "inputBodyJson STRUCT(serviceTier STRUCT(type VARCHAR)))",
    "output": "STRUCT(outputTokenCount BIGINT, outputBodyJson STRUCT(serviceTier STRUCT(type VARCHAR), "
    "usage STRUCT(cacheDetails STRUCT(ttl VARCHAR, inputTokens BIGINT)[], cache_creation STRUCT(ephemeral_1h_input_tokens BIGINT))))",
    "errorCode": "VARCHAR",
}


def _lit(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _values(name: str, columns: Sequence[str], types: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    body = ", ".join("(" + ", ".join(_lit(v) for v in row) + ")" for row in rows)
    if not body:  # an empty relation with the right column types
        nulls = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in zip(columns, types, strict=True))
        return f"{name} AS (SELECT {nulls} WHERE 1 = 0)"
    casts = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in zip(columns, types, strict=True))
    return f"{name} AS (SELECT {casts} FROM (VALUES {body}) AS v({', '.join(columns)}))"


@dataclass
class Lookups:
    """The small relations attribution and pricing join against."""

    aips: list[tuple[str, str, str, str | None]] = field(default_factory=list)  # key, caller, base model, geo
    identities: list[tuple[str, str]] = field(default_factory=list)  # caller, IAM ARN pattern
    trail: list[tuple[str, str]] = field(default_factory=list)  # request id, principal ARN
    tenants: list[tuple[str, str]] = field(default_factory=list)  # caller, tenant (its STS session name)

    @classmethod
    def build(cls, loaded: LoadedInventory | None, profiles: Iterable[Any]) -> Lookups:
        aips = []
        for profile in profiles:
            caller = profile.tags.get(rules.TAG_CALLER)
            if not caller:
                continue
            ref = ModelRef.from_source(profile.tags.get(rules.TAG_SOURCE, ""))
            aips += [(profile.arn, caller, ref.model_id, ref.geo), (profile.profile_id, caller, ref.model_id, ref.geo)]
        identities = [(c, p) for c, entry in loaded.inventory.callers.items() for p in entry.identities] if loaded else []
        tenants = [(c, t) for c, entry in loaded.inventory.callers.items() for t in entry.tenants] if loaded else []
        return cls(aips, identities, tenants=tenants)

    def aip_cte(self) -> str:
        """``aip_map``: AIP ARN or id -> caller, base model, geo."""
        return _values("aip_map", ("key", "caller", "base_model", "geo"), ("VARCHAR",) * 4, self.aips)

    def ctes(self) -> list[str]:
        """``prices``: per model, route and tier its rates in every Region (``region`` '') and, for each Region
        where some model's price differs (:meth:`priced_apart`), every model's rates there, so one equi-join
        prices a call; a tier or model without an input price has no row (its calls stay unpriced, never $0)."""
        book = price_book()
        prices = []
        apart = self.priced_apart()
        for model_id in sorted(book.models):
            regions = ["", *apart]
            for route, geo in (("regional", None), ("global", "global")):
                for tier in TIERS:
                    for region in regions:
                        try:
                            p = book.price(ModelRef(model_id, geo, region or None), tier)
                        except Unpriced:
                            continue
                        rates = (p.input, p.output, p.cache_read, p.cache_write, p.cache_write_1h)
                        prices.append((model_id, route, tier, region, *(float(r) for r in rates)))
        return [
            self.aip_cte(),
            _values(
                "prices",
                ("base_model", "route", "tier", "region", "p_in", "p_out", "p_cr", "p_cw", "p_cw1h"),
                ("VARCHAR",) * 4 + ("DOUBLE",) * 5,
                prices,
            ),
            _values("trail_ids", ("request_id", "arn"), ("VARCHAR", "VARCHAR"), self.trail),
        ]

    @staticmethod
    def priced_apart() -> list[str]:
        """The Regions where some model's price differs from its price elsewhere."""
        return sorted({region for entry in price_book().models.values() for region in entry["regions"]})

    def tenant_case(self, caller: str, arn: str) -> str:
        """A CASE giving the tenant of a call: the session name of an assumed-role principal, when it is one
        of its caller's tenants (``aipctl.session_for`` names each tenant's session after it)."""
        by_caller: dict[str, list[str]] = {}
        for name, tenant in self.tenants:
            by_caller.setdefault(name, []).append(tenant)
        if not by_caller:
            return "CAST(NULL AS VARCHAR)"
        session = f"split_part({arn}, '/', 3)"
        clauses = " ".join(
            f"WHEN {caller} = {_lit(name)} AND {session} IN ({', '.join(_lit(t) for t in sorted(tenants))}) THEN {session}"
            for name, tenants in sorted(by_caller.items())
        )
        return f"CASE WHEN {arn} LIKE 'arn:%:sts::%:assumed-role/%/%' THEN (CASE {clauses} END) END"

    def identity_case(self, arn: str, role_arn: str) -> str:
        """A CASE mapping a principal ARN (or the role behind an assumed-role ARN) to a caller."""
        if not self.identities:
            return "CAST(NULL AS VARCHAR)"
        clauses = []
        for caller, pattern in self.identities:
            # IAM wildcards * and ? become LIKE's % and _; literal %, _ and ! are escaped with !.
            like = pattern.replace("!", "!!").replace("%", "!%").replace("_", "!_").replace("*", "%").replace("?", "_")
            clauses.append(
                f"WHEN {arn} LIKE {_lit(like)} ESCAPE '!' OR {role_arn} LIKE {_lit(like)} ESCAPE '!' THEN {_lit(caller)}"
            )
        return "CASE " + " ".join(clauses) + " ELSE NULL END"


#: The 1-hour cache writes of a record: Converse's ``cacheDetails`` (DuckDB's list comprehension) or Anthropic's
#: ``cache_creation``. Athena's SQL (for_athena) reads only the latter: Trino has no list comprehension.
_CACHE_1H = {
    "duckdb": "coalesce(list_sum([d.inputTokens FOR d IN s.output.outputBodyJson.usage.cacheDetails IF d.ttl = '1h']), "
    "s.output.outputBodyJson.usage.cache_creation.ephemeral_1h_input_tokens, 0)",
    "athena": "coalesce(s.output.outputBodyJson.usage.cache_creation.ephemeral_1h_input_tokens, 0)",
}


def attributed_select(source: str, lookups: Lookups, *, for_athena: bool = False) -> str:
    """One row per log record in ``source`` (a relation with the log's columns), attributed and priced.

    Duplicates inside ``source`` are not removed here; the caller decides how (DuckDB's ingest
    drops request ids already in the ledger).
    """
    geo_list = ", ".join(_lit(g) for g in GEO_PREFIXES)
    ctes = ",\n".join(lookups.ctes())
    apart = lookups.priced_apart()
    region_key = f"CASE WHEN m.region IN ({', '.join(_lit(r) for r in apart)}) THEN m.region ELSE '' END" if apart else "''"
    return f"""WITH {ctes},
raw AS (
    SELECT s.requestId AS request_id, s."timestamp" AS ts, s.accountId AS account, s.region AS region, s.operation AS operation,
           s.modelId AS model_id, coalesce(s.identity.arn, t.arn) AS identity_arn,
           coalesce(s.input.inputTokenCount, 0) AS input_tokens, coalesce(s.output.outputTokenCount, 0) AS output_tokens,
           coalesce(s.input.cacheReadInputTokenCount, 0) AS cache_read, coalesce(s.input.cacheWriteInputTokenCount, 0) AS cache_write,
           {_CACHE_1H["athena" if for_athena else "duckdb"]} AS cache_write_1h,
           s.output.outputBodyJson IS NOT NULL AS has_body,
           coalesce(s.output.outputBodyJson.serviceTier."type", s.input.inputBodyJson.serviceTier."type", 'default') AS service_tier,
           s.errorCode AS error_code, m.caller AS aip_caller, m.base_model AS aip_model, m.geo AS aip_geo
    FROM {source} AS s LEFT JOIN trail_ids AS t ON t.request_id = s.requestId LEFT JOIN aip_map AS m ON m.key = s.modelId
    WHERE s.requestId IS NOT NULL
),
roled AS (
    -- only calls that did not use a known AIP pay for the string work below
    SELECT r.*,
           CASE WHEN r.aip_caller IS NULL AND r.identity_arn LIKE 'arn:%:sts::%:assumed-role/%'
                THEN 'arn:' || split_part(r.identity_arn, ':', 2) || ':iam::' || split_part(r.identity_arn, ':', 5) || ':role/' || split_part(r.identity_arn, '/', 2)
           END AS role_arn,
           CASE WHEN r.aip_caller IS NOT NULL THEN NULL
                WHEN r.model_id LIKE 'arn:%' THEN regexp_extract(r.model_id, '[^/]+$') ELSE r.model_id END AS tail
    FROM raw AS r
),
identified AS (
    SELECT r.*, CASE WHEN r.aip_caller IS NULL THEN {lookups.identity_case("r.identity_arn", "r.role_arn")} END AS id_caller
    FROM roled AS r
),
modeled AS (
    SELECT a.*, coalesce(a.aip_caller, a.id_caller, {_lit(UNATTRIBUTED)}) AS caller,
           CASE WHEN a.aip_caller IS NOT NULL THEN 'aip' WHEN a.id_caller IS NOT NULL THEN 'identity' ELSE 'none' END AS attributed_by,
           coalesce(a.aip_model, CASE WHEN split_part(a.tail, '.', 1) IN ({geo_list})
                                      THEN substr(a.tail, length(split_part(a.tail, '.', 1)) + 2) ELSE a.tail END) AS base_model,
           CASE WHEN a.aip_caller IS NOT NULL THEN a.aip_geo WHEN split_part(a.tail, '.', 1) IN ({geo_list}) THEN split_part(a.tail, '.', 1) END AS geo
    FROM identified AS a
)
SELECT m.request_id, m.ts, m.account, m.region, m.operation, m.model_id, m.identity_arn, m.caller, m.attributed_by,
       m.base_model, m.geo, m.input_tokens, m.output_tokens, m.cache_read, m.cache_write,
       -- NULL for the common case (no 1-hour writes, the standard tier, no range): nothing to store per row
       nullif(m.cache_write_1h, 0) AS cache_write_1h, nullif(m.service_tier, 'default') AS service_tier, m.error_code,
       CASE WHEN m.error_code IS NULL
            THEN (m.input_tokens * p.p_in + m.output_tokens * p.p_out + m.cache_read * p.p_cr
                  + (m.cache_write - m.cache_write_1h) * p.p_cw + m.cache_write_1h * coalesce(p.p_cw1h, p.p_cw)) / 1e6
       END AS cost_usd,
       -- without the bodies (text delivery off) a cache write's TTL is unknown: at most it was a 1-hour write
       CASE WHEN m.error_code IS NULL AND NOT m.has_body AND m.cache_write > m.cache_write_1h
            THEN (m.input_tokens * p.p_in + m.output_tokens * p.p_out + m.cache_read * p.p_cr
                  + m.cache_write * coalesce(p.p_cw1h, p.p_cw)) / 1e6
       END AS cost_max_usd,
       {lookups.tenant_case("m.caller", "m.identity_arn")} AS tenant
FROM modeled AS m
LEFT JOIN prices AS p
       ON p.base_model = m.base_model AND p.tier = m.service_tier
      AND p.route = CASE WHEN m.geo = 'global' THEN 'global' ELSE 'regional' END
      AND p.region = {region_key}"""


def report_select(relation: str, by: str) -> str:
    """Calls, tokens and cost per caller (× day, hour or model) over an attributed relation.

    ``relation`` has the columns of :func:`attributed_select`, with ``ts`` as ISO-8601 text, so the
    grouping keys are substrings and the same query runs on DuckDB and Athena.
    """
    keys = {
        "caller": [],
        "day": ["substr(ts, 1, 10) AS day"],
        "hour": ["substr(ts, 1, 13) || ':00' AS hour"],
        "model": ["base_model AS model"],
    }[by]
    select = ", ".join(["caller", *keys])
    group = ", ".join(str(i) for i in range(1, len(keys) + 2))
    return (
        f"SELECT {select}, count(*) AS calls, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
        f"sum(cache_read) AS cache_read_tokens, sum(cache_write) AS cache_write_tokens, sum(coalesce(cost_usd, 0)) AS cost_usd, "
        "sum(CASE WHEN cost_usd IS NULL AND error_code IS NULL THEN 1 ELSE 0 END) AS unpriced_calls, "
        "sum(coalesce(cost_max_usd, cost_usd, 0)) AS cost_max_usd "
        f"FROM {relation} GROUP BY {group} ORDER BY cost_usd DESC, caller"
    )


def to_athena(sql: str) -> str:
    """The same statement in Athena's engine dialect (Trino)."""
    import sqlglot

    return str(sqlglot.transpile(sql, read="duckdb", write="trino", pretty=True)[0])


ATHENA_TABLE = "bedrock_invocation_logs"


def athena_ddl(log_uri: str, account: str, region: str, table: str = ATHENA_TABLE, start: str = "2023/01/01/00") -> str:
    """Glue/Athena table over the log bucket with partition projection on the hour folders."""
    base = log_uri.rstrip("/") + f"/AWSLogs/{account}/BedrockModelInvocationLogs/{region}"
    return f"""CREATE EXTERNAL TABLE IF NOT EXISTS {table} (
  `schemaType` string,
  `schemaVersion` string,
  `timestamp` string,
  `accountId` string,
  `identity` struct<arn:string>,
  `region` string,
  `requestId` string,
  `operation` string,
  `modelId` string,
  `inferenceRegion` string,
  `input` struct<inputContentType:string,inputTokenCount:bigint,cacheReadInputTokenCount:bigint,cacheWriteInputTokenCount:bigint,inputBodyJson:struct<serviceTier:struct<type:string>>>,
  `output` struct<outputContentType:string,outputTokenCount:bigint,outputBodyJson:struct<serviceTier:struct<type:string>,usage:struct<cache_creation:struct<ephemeral_1h_input_tokens:bigint>>>>,
  `errorCode` string
)
PARTITIONED BY (`dt` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
LOCATION '{base}/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy/MM/dd/HH',
  'projection.dt.range' = '{start},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'HOURS',
  'storage.location.template' = '{base}/${{dt}}/'
)"""
