# ruff: noqa: E501  (the generator SQL reads better unwrapped)
"""CUR 2.0 Parquet into the ledger: rows/s of ``meter ingest`` against DuckDB's bare scan of the same files.

Generates an export's layout (``<root>/data/BILLING_PERIOD=YYYY-MM/<name>-00001.snappy.parquet``) with
``lines`` Bedrock line items spread over ``periods`` months: ``callers`` AIPs and roles, 20 % of the
lines by tenant sessions of one gateway role, 5 % by principals nobody owns. Then, in one run:

- ``scan``: DuckDB reads every file and sums the cost (the floor: no attribution, no writes);
- ``copy``: DuckDB lands every row unchanged in a DuckDB file, with the ledger's memory limit (the floor
  for reading and writing them all);
- ``ingest``: :func:`aipctl.meter.cur.ingest_cur` into a fresh ledger (attribution by AIP ARN, tag,
  identity pattern and tenant session; one transaction per billing period);
- ``reingest``: the same files again (every revision unchanged: nothing is read).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from aipctl.aws.bedrock import LiveProfile
from aipctl.inventory import parse_inventory
from aipctl.meter import open_ledger
from aipctl.meter.cur import ingest_cur, local_files
from aipctl.meter.sql import Lookups

ACCOUNT = "123456789012"


def _inventory(callers: int, tenants: int) -> str:
    lines = ["name: bench", "region: eu-central-1", "models:", "  sonnet: eu.anthropic.claude-sonnet-4-6", "callers:"]
    for i in range(callers):
        lines += [f"  c{i:04d}:", "    owner: bench", "    environment: bench", "    models: [sonnet]"]
        lines += [f'    identities: ["arn:aws:iam::*:role/c{i:04d}"]']
    lines += ["  gateway:", "    owner: bench", "    environment: bench", "    models: [sonnet]"]
    lines += ['    identities: ["arn:aws:iam::*:role/gateway"]', "    tenants:"]
    lines += [f"      t{i:05d}:" for i in range(tenants)]
    return "\n".join(lines) + "\n"


def _profiles(callers: int) -> list[LiveProfile]:
    out = []
    for i in range(callers):
        arn = f"arn:aws:bedrock:eu-central-1:{ACCOUNT}:application-inference-profile/p{i:010d}"
        tags = {"aipctl:caller": f"c{i:04d}", "aipctl:source": "eu.anthropic.claude-sonnet-4-6", "aipctl:managed": "bench"}
        out.append(LiveProfile(arn, f"p{i:010d}", f"c{i:04d}-sonnet", (), "ACTIVE", None, tags))
    return out


def generate(root: Path, lines: int, periods: int, callers: int, tenants: int) -> list[Path]:
    import duckdb

    per = lines // periods
    files = []
    for p in range(periods):
        month = f"2026-{p + 1:02d}"
        folder = root / "data" / f"BILLING_PERIOD={month}"
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / "bench-00001.snappy.parquet"
        duckdb.sql(f"""
            COPY (
              SELECT md5(CAST(i AS VARCHAR)) AS identity_line_item_id,
                     TIMESTAMP '{month}-01' AS bill_billing_period_start_date,
                     'Usage' AS line_item_line_item_type, '{ACCOUNT}' AS line_item_usage_account_id,
                     TIMESTAMP '{month}-01' + INTERVAL (i % 672) HOUR AS line_item_usage_start_date,
                     'AmazonBedrock' AS line_item_product_code,
                     CASE i % 4 WHEN 0 THEN 'EUC1-ClaudeSonnet4.6-input-tokens' WHEN 1 THEN 'EUC1-ClaudeSonnet4.6-output-tokens'
                          WHEN 2 THEN 'EUC1-ClaudeSonnet4.6-cache-read-input-tokens' ELSE 'EUC1-ClaudeSonnet4.6-cache-write-input-tokens'
                     END AS line_item_usage_type,
                     'Usage' AS line_item_operation,
                     CASE WHEN i % 20 < 15 THEN 'arn:aws:bedrock:eu-central-1:{ACCOUNT}:application-inference-profile/p'
                          || lpad(CAST(i % {callers} AS VARCHAR), 10, '0') ELSE '' END AS line_item_resource_id,
                     CASE WHEN i % 20 < 15 THEN 'arn:aws:sts::{ACCOUNT}:assumed-role/c' || lpad(CAST(i % {callers} AS VARCHAR), 4, '0') || '/run'
                          WHEN i % 20 < 19 THEN 'arn:aws:sts::{ACCOUNT}:assumed-role/gateway/t' || lpad(CAST(i % {tenants} AS VARCHAR), 5, '0')
                          ELSE 'arn:aws:iam::{ACCOUNT}:user/stranger' END AS line_item_iam_principal,
                     CAST(100 + i % 5000 AS DOUBLE) AS line_item_usage_amount,
                     (100 + i % 5000) * 0.000003 AS line_item_unblended_cost,
                     (100 + i % 5000) * 0.000003 AS line_item_net_unblended_cost,
                     'eu-central-1' AS product_region_code,
                     CASE WHEN i % 20 < 15 THEN MAP {{'user_Application': 'c' || lpad(CAST(i % {callers} AS VARCHAR), 4, '0')}}
                          ELSE MAP {{}}::MAP(VARCHAR, VARCHAR) END AS resource_tags
              FROM range({per}) AS r(i)
            ) TO '{out}' (FORMAT PARQUET, COMPRESSION SNAPPY)
        """)
        files.append(out)
    return files


def run(lines: int = 2_000_000, periods: int = 4, callers: int = 200, tenants: int = 1000) -> dict[str, Any]:
    import duckdb

    scratch = Path(tempfile.mkdtemp(prefix="aipctl-bench-cur-"))
    try:
        paths = generate(scratch / "export", lines, periods, callers, tenants)
        size = sum(p.stat().st_size for p in paths)
        listing = ", ".join(f"'{p}'" for p in paths)
        started = time.perf_counter()
        bare = duckdb.connect()
        scanned = bare.execute(f"SELECT count(*), sum(line_item_unblended_cost) FROM read_parquet([{listing}])").fetchone()
        scan_s = time.perf_counter() - started
        bare.close()
        # the second floor: the same rows landed unchanged in a DuckDB file (every column read and written)
        landed = duckdb.connect(str(scratch / "landed.duckdb"))
        landed.execute(f"SET memory_limit = '{os.environ.get('AIPCTL_METER_MEMORY', '256MB')}'")  # as the ledger has
        started = time.perf_counter()
        landed.execute(f"CREATE TABLE lines AS SELECT * FROM read_parquet([{listing}])")
        copy_s = time.perf_counter() - started
        landed.close()
        loaded = parse_inventory(_inventory(callers, tenants), "bench.yaml")
        lookups = Lookups.build(loaded, _profiles(callers))
        con = open_ledger(scratch / "ledger.duckdb")
        started = time.perf_counter()
        result = ingest_cur(con, local_files(str(scratch / "export")), lookups, loaded)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        again = ingest_cur(con, local_files(str(scratch / "export")), lookups, loaded)
        reingest_s = time.perf_counter() - started
        by = dict(con.execute("SELECT attributed_by, count(*) FROM bill_lines GROUP BY 1").fetchall())
        tenant_lines = con.execute("SELECT count(*) FROM bill_lines WHERE tenant IS NOT NULL").fetchone()
        con.close()
        assert scanned is not None and result.lines == scanned[0] == lines // periods * periods
        return {
            "lines": result.lines,
            "files": len(paths),
            "parquet_mb": round(size / 2**20, 1),
            "scan_s": round(scan_s, 3),
            "scan_rows_per_s": round(result.lines / scan_s),
            "copy_s": round(copy_s, 3),
            "copy_rows_per_s": round(result.lines / copy_s),
            "ingest_s": round(ingest_s, 3),
            "ingest_rows_per_s": round(result.lines / ingest_s),
            "ingest_vs_scan": round(ingest_s / scan_s, 1),
            "ingest_vs_copy": round(ingest_s / copy_s, 1),
            "reingest_s": round(reingest_s, 4),
            "reingest_unchanged_periods": again.unchanged,
            "attributed_by": by,
            "tenant_lines": tenant_lines[0] if tenant_lines else 0,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
