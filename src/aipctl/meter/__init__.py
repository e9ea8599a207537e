# ruff: noqa: E501  (the ingest SQL reads better unwrapped)
"""The metering ledger: every model invocation, its caller, tokens and cost, in DuckDB.

Ingest reads model invocation logs (gzip JSON lines, as Bedrock writes them to S3) with DuckDB's
own JSON reader; attribution and pricing are joins against two small tables (AIP -> caller and
model; model × route -> prices), so the whole pipeline is vectorised SQL:

- **attribution**: an AIP id or ARN in ``modelId`` -> the AIP's caller and model; otherwise the
  ``identity.arn`` matched against the inventory's identity patterns; otherwise ``unattributed``.
- **idempotent**: a record whose ``requestId`` is already in the ledger is skipped (duplicate
  deliveries count once).
- **incremental and crash-safe**: each file is ingested in one transaction together with its row
  in ``ingested_files``; a kill at any point loses at most the file in flight, which the next run
  ingests again.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aipctl._exceptions import UsageError
from aipctl.inventory import LoadedInventory, rules
from aipctl.pricing import ModelRef, price_book

DEFAULT_LEDGER = ".aipctl/ledger.duckdb"
SCHEMA = """
CREATE TABLE IF NOT EXISTS invocations (
    request_id VARCHAR PRIMARY KEY,
    ts TIMESTAMPTZ NOT NULL,
    account VARCHAR,
    region VARCHAR,
    operation VARCHAR,
    model_id VARCHAR,
    identity_arn VARCHAR,
    caller VARCHAR NOT NULL,
    attributed_by VARCHAR NOT NULL,   -- aip | identity | none
    base_model VARCHAR,
    geo VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cache_read BIGINT,
    cache_write BIGINT,
    error_code VARCHAR,
    cost_usd DOUBLE
);
CREATE TABLE IF NOT EXISTS ingested_files (name VARCHAR PRIMARY KEY, size BIGINT, records BIGINT, ingested_at TIMESTAMPTZ);
"""


@dataclass(frozen=True)
class IngestResult:
    files: int
    skipped_files: int
    records: int
    new_records: int


def open_ledger(path: str | Path = DEFAULT_LEDGER) -> Any:
    import duckdb

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute(SCHEMA)
    return con


def _lookup_tables(con: Any, loaded: LoadedInventory | None, profiles: Iterable[Any]) -> list[tuple[str, str]]:
    """Fill the temporary attribution and price tables; return (caller, identity pattern) pairs."""
    con.execute("CREATE OR REPLACE TEMP TABLE aip_map (key VARCHAR, caller VARCHAR, base_model VARCHAR, geo VARCHAR)")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE prices (base_model VARCHAR, geo VARCHAR, p_in DOUBLE, p_out DOUBLE, p_cr DOUBLE, p_cw DOUBLE)"
    )
    rows = []
    for profile in profiles:
        caller = profile.tags.get(rules.TAG_CALLER)
        if not caller:
            continue
        ref = ModelRef.from_source(profile.tags.get(rules.TAG_SOURCE, ""))
        rows += [(profile.arn, caller, ref.model_id, ref.geo), (profile.profile_id, caller, ref.model_id, ref.geo)]
    if rows:
        con.executemany("INSERT INTO aip_map VALUES (?, ?, ?, ?)", rows)
    book = price_book()
    price_rows = []
    for model_id in book.models:
        for geo in (None, "us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"):
            price = book.price(ModelRef(model_id, geo))
            price_rows.append(
                (model_id, geo or "", float(price.input), float(price.output), float(price.cache_read), float(price.cache_write))
            )
    con.executemany("INSERT INTO prices VALUES (?, ?, ?, ?, ?, ?)", price_rows)
    return [(c, p) for c, entry in loaded.inventory.callers.items() for p in entry.identities] if loaded else []


def _identity_case(patterns: list[tuple[str, str]]) -> str:
    """A SQL CASE mapping identity.arn (or the role behind an assumed-role ARN) to a caller."""
    if not patterns:
        return "NULL"
    clauses = []
    for caller, pattern in patterns:
        # IAM wildcards * and ? become LIKE's % and _; literal %, _ and ! are escaped with !.
        like = (
            pattern.replace("'", "''")
            .replace("!", "!!")
            .replace("%", "!%")
            .replace("_", "!_")
            .replace("*", "%")
            .replace("?", "_")
        )
        name = caller.replace("'", "''")
        clauses.append(f"WHEN r.identity_arn LIKE '{like}' ESCAPE '!' OR r.role_arn LIKE '{like}' ESCAPE '!' THEN '{name}'")
    return "CASE " + " ".join(clauses) + " ELSE NULL END"


def _ingest_file(con: Any, path: Path, name: str, identity_case: str) -> int:
    source = str(path).replace("'", "''")
    con.execute("BEGIN TRANSACTION")
    try:
        before = con.execute("SELECT count(*) FROM invocations").fetchone()[0]
        con.execute(f"""
            INSERT INTO invocations
            WITH raw AS (
                SELECT requestId AS request_id, CAST("timestamp" AS TIMESTAMPTZ) AS ts, accountId AS account, region, operation,
                       modelId AS model_id, identity.arn AS identity_arn,
                       CASE WHEN identity.arn LIKE 'arn:%:sts::%:assumed-role/%'
                            THEN regexp_replace(identity.arn, '^arn:([^:]+):sts::([0-9]+):assumed-role/([^/]+)/.*$', 'arn:\\1:iam::\\2:role/\\3')
                       END AS role_arn,
                       coalesce(input.inputTokenCount, 0) AS input_tokens, coalesce(output.outputTokenCount, 0) AS output_tokens,
                       coalesce(input.cacheReadInputTokenCount, 0) AS cache_read, coalesce(input.cacheWriteInputTokenCount, 0) AS cache_write,
                       errorCode AS error_code
                FROM read_json('{source}', format = 'newline_delimited', ignore_errors = true,
                               columns = {{requestId: 'VARCHAR', "timestamp": 'VARCHAR', accountId: 'VARCHAR', region: 'VARCHAR',
                                          operation: 'VARCHAR', modelId: 'VARCHAR', identity: 'STRUCT(arn VARCHAR)',
                                          input: 'STRUCT(inputTokenCount BIGINT, cacheReadInputTokenCount BIGINT, cacheWriteInputTokenCount BIGINT)',
                                          output: 'STRUCT(outputTokenCount BIGINT)', errorCode: 'VARCHAR'}})
                WHERE requestId IS NOT NULL
                QUALIFY row_number() OVER (PARTITION BY requestId) = 1
            ), attributed AS (
                SELECT r.*, m.caller AS aip_caller, m.base_model AS aip_model, m.geo AS aip_geo, {identity_case} AS id_caller,
                       CASE WHEN r.model_id LIKE 'arn:%' THEN regexp_extract(r.model_id, '[^/]+$') ELSE r.model_id END AS tail
                FROM raw r LEFT JOIN aip_map m ON m.key = r.model_id
            ), modeled AS (
                SELECT *, coalesce(aip_caller, id_caller, 'unattributed') AS caller,
                       CASE WHEN aip_caller IS NOT NULL THEN 'aip' WHEN id_caller IS NOT NULL THEN 'identity' ELSE 'none' END AS attributed_by,
                       coalesce(aip_model, CASE WHEN split_part(tail, '.', 1) IN ('us','eu','apac','jp','au','ca','us-gov','global')
                                                THEN substr(tail, length(split_part(tail, '.', 1)) + 2) ELSE tail END) AS base_model,
                       coalesce(aip_geo, CASE WHEN split_part(tail, '.', 1) IN ('us','eu','apac','jp','au','ca','us-gov','global')
                                              THEN split_part(tail, '.', 1) END) AS geo
                FROM attributed
            )
            SELECT m.request_id, m.ts, m.account, m.region, m.operation, m.model_id, m.identity_arn, m.caller, m.attributed_by,
                   m.base_model, m.geo, m.input_tokens, m.output_tokens, m.cache_read, m.cache_write, m.error_code,
                   CASE WHEN m.error_code IS NULL
                        THEN (m.input_tokens * p.p_in + m.output_tokens * p.p_out + m.cache_read * p.p_cr + m.cache_write * p.p_cw) / 1e6
                   END AS cost_usd
            FROM modeled m LEFT JOIN prices p ON p.base_model = m.base_model AND p.geo = coalesce(m.geo, '')
            WHERE NOT EXISTS (SELECT 1 FROM invocations i WHERE i.request_id = m.request_id)
        """)
        added = con.execute("SELECT count(*) FROM invocations").fetchone()[0] - before
        con.execute("INSERT INTO ingested_files VALUES (?, ?, ?, now())", (name, path.stat().st_size, added))
        con.execute("COMMIT")
        return int(added)
    except Exception:
        con.execute("ROLLBACK")
        raise


def ingest(
    con: Any,
    source: str,
    *,
    loaded: LoadedInventory | None = None,
    profiles: Iterable[Any] = (),
    target: Any = None,
    on_file: Callable[[int, int], None] | None = None,
) -> IngestResult:
    """Ingest a local folder (``*.json``/``*.json.gz`` below it) or ``s3://bucket/prefix``."""
    patterns = _lookup_tables(con, loaded, profiles)
    identity_case = _identity_case(patterns)
    done = {row[0] for row in con.execute("SELECT name FROM ingested_files").fetchall()}
    new_records = files = skipped = 0
    if source.startswith("s3://"):
        if target is None:
            raise UsageError("an s3:// source needs an AWS target")
        from aipctl.aws.s3logs import InvocationLogs, parse_s3_uri

        logs = InvocationLogs(target)
        bucket, _ = parse_s3_uri(source)
        keys = logs.keys(source)
        with tempfile.TemporaryDirectory(prefix="aipctl-meter-") as tmp:
            for index, key in enumerate(keys, 1):
                name = f"s3://{bucket}/{key}"
                if name in done:
                    skipped += 1
                    continue
                local = Path(tmp) / "batch.json.gz"
                local.write_bytes(logs.object_bytes(source, key))
                new_records += _ingest_file(con, local, name, identity_case)
                files += 1
                if on_file:
                    on_file(index, len(keys))
    else:
        root = Path(source)
        if not root.exists():
            raise UsageError(f"no such folder {source!r}")
        paths = sorted(
            p for p in ([root] if root.is_file() else root.rglob("*")) if p.name.endswith((".json", ".json.gz", ".jsonl"))
        )
        for index, path in enumerate(paths, 1):
            name = str(path.resolve())
            if name in done:
                skipped += 1
                continue
            new_records += _ingest_file(con, path, name, identity_case)
            files += 1
            if on_file:
                on_file(index, len(paths))
    total = con.execute("SELECT count(*) FROM invocations").fetchone()[0]
    return IngestResult(files, skipped, int(total), new_records)


def query(con: Any, by: str = "caller", since: Any = None) -> list[dict[str, Any]]:
    """Calls, tokens and cost grouped by caller (and ``day``/``hour``/``model`` when asked)."""
    groups = {
        "caller": ["caller"],
        "day": ["caller", "CAST(date_trunc('day', ts) AS DATE)"],
        "hour": ["caller", "date_trunc('hour', ts)"],
        "model": ["caller", "base_model"],
    }
    if by not in groups:
        raise UsageError(f"--by {by}: use caller, day, hour or model")
    keys = groups[by]
    names = ["caller", "day", "hour", "model"]
    select = ", ".join(
        f"{expr} AS {name}" for expr, name in zip(keys, ["caller", *[n for n in names[1:] if by == n]], strict=False)
    )
    where = "WHERE ts >= ?" if since is not None else ""
    rows = con.execute(
        f"SELECT {select}, count(*) AS calls, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
        f"sum(cache_read) AS cache_read_tokens, sum(cache_write) AS cache_write_tokens, round(sum(coalesce(cost_usd, 0)), 10) AS cost_usd "
        f"FROM invocations {where} GROUP BY ALL ORDER BY cost_usd DESC, caller",
        [since] if since is not None else [],
    )
    columns = [d[0] for d in rows.description]
    return [{c: (str(v) if c in ("day", "hour") else v) for c, v in zip(columns, row, strict=True)} for row in rows.fetchall()]


__all__ = ["DEFAULT_LEDGER", "IngestResult", "ingest", "open_ledger", "query"]
