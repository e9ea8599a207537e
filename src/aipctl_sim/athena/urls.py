"""Athena ``StartQueryExecution`` / ``GetQueryExecution`` / ``GetQueryResults`` that really run.

- ``CREATE EXTERNAL TABLE … LOCATION 's3://…'`` (Hive DDL, JSON SerDe) registers the table: its
  columns (Hive types mapped to DuckDB's) and location; partition columns read as NULL.
- A query is transpiled from Athena's engine dialect (Trino) to DuckDB with sqlglot; every
  registered table it names becomes ``read_json`` over the objects under its location in the
  emulated S3 (gzip or plain JSON lines). Results are kept per execution, as strings the way
  Athena returns them (header row first), and written as CSV to the output location.
- Everything else about Athena (work groups, catalogs, named queries …) stays with moto.

Executions finish before ``StartQueryExecution`` returns (state SUCCEEDED or FAILED with the
engine's message); data beyond what one process holds is not the emulator's job.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import tempfile
import uuid
from pathlib import Path
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend

from aipctl_sim.protocol import Request, ServiceError, ValidationException

SERVICE = "athena"


class AthenaSimBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.tables: dict[tuple[str, str], dict[str, Any]] = {}
        self.executions: dict[str, dict[str, Any]] = {}


athena_sim_backends = BackendDict(AthenaSimBackend, "athena")


class InvalidRequestException(ServiceError):
    code, status = "InvalidRequestException", 400


def _backend(req: Request) -> AthenaSimBackend:
    return athena_sim_backends[req.account_id][req.region]


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValidationException(f"{uri} is not an s3:// location")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix


def _register(backend: AthenaSimBackend, database: str, statement: Any) -> str:
    from sqlglot import exp

    schema = statement.this
    table = schema.this if isinstance(schema, exp.Schema) else schema
    location = statement.find(exp.LocationProperty)
    if location is None:
        raise InvalidRequestException("CREATE EXTERNAL TABLE needs a LOCATION 's3://…'")
    columns = {c.name: c.args["kind"].sql(dialect="duckdb") for c in schema.expressions if isinstance(c, exp.ColumnDef)}
    partitions = statement.find(exp.PartitionedByProperty)
    parts = [c.name for c in partitions.find_all(exp.ColumnDef)] if partitions is not None else []
    backend.tables[(database, table.name.lower())] = {
        "location": location.this.name,
        "columns": columns,
        "partitions": parts,
    }
    return "DDL"


def _objects(account: str, location: str, folder: Path) -> list[Path]:
    from moto.s3.models import s3_backends

    bucket, prefix = _split_s3(location)
    backend = s3_backends[account]["aws"]
    try:
        keys = backend.get_bucket(bucket).keys
    except Exception:
        raise InvalidRequestException(f"location {location} does not exist") from None
    paths = []
    for n, key in enumerate(sorted(k for k in keys if k.startswith(prefix))):
        name = key.rsplit("/", 1)[-1]
        if not name or name.startswith(("_", ".")):
            continue
        found = backend.get_object(bucket, key)
        body = found.value if found is not None else b""
        if not body:
            continue
        suffix = ".json.gz" if body[:2] == b"\x1f\x8b" else ".json"
        path = folder / f"{n}{suffix}"
        path.write_bytes(body)
        paths.append(path)
    return paths


def _run_select(
    req: Request, backend: AthenaSimBackend, database: str, statement: Any
) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    import duckdb
    from sqlglot import exp

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    with tempfile.TemporaryDirectory(prefix="aipctl-sim-athena-") as tmp:
        for table in {t.name.lower() for t in statement.find_all(exp.Table)}:
            spec = backend.tables.get((database, table))
            if spec is None:
                continue
            folder = Path(tmp) / table
            folder.mkdir()
            files = _objects(req.account_id, spec["location"], folder)
            columns = ", ".join(f"\"{name}\": '{kind}'" for name, kind in spec["columns"].items())
            extra = "".join(f', NULL::VARCHAR AS "{p}"' for p in spec["partitions"])
            if files:
                listed = ", ".join(f"'{p}'" for p in files)
                source = f"read_json([{listed}], format = 'newline_delimited', ignore_errors = true, columns = {{{columns}}})"
                con.execute(f'CREATE VIEW "{table}" AS SELECT *{extra} FROM {source}')
            else:
                nulls = ", ".join(f'NULL::{kind} AS "{name}"' for name, kind in spec["columns"].items())
                con.execute(f'CREATE VIEW "{table}" AS SELECT {nulls}{extra} WHERE false')
        sql = statement.sql(dialect="duckdb")
        try:
            cursor = con.execute(sql)
        except duckdb.Error as exc:
            raise InvalidRequestException(str(exc).splitlines()[0]) from None
        names = [d[0] for d in cursor.description]
        types = [str(d[1]).lower() for d in cursor.description]
        rows = cursor.fetchall()
    return names, types, rows


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    return str(value)


def start_query_execution(req: Request) -> dict[str, Any]:
    import sqlglot

    backend = _backend(req)
    p = req.params
    query = p["QueryString"]
    database = str((p.get("QueryExecutionContext") or {}).get("Database") or "default").lower()
    output = (p.get("ResultConfiguration") or {}).get("OutputLocation")
    execution_id = str(uuid.uuid4())
    now = dt.datetime.now(dt.timezone.utc)
    record: dict[str, Any] = {
        "QueryExecutionId": execution_id,
        "Query": query,
        "QueryExecutionContext": {"Database": database, "Catalog": "AwsDataCatalog"},
        "WorkGroup": p.get("WorkGroup") or "primary",
        "SubmissionDateTime": now,
        "names": [],
        "types": [],
        "rows": [],
    }
    try:
        statement = sqlglot.parse_one(query, read="athena")
        if isinstance(statement, sqlglot.exp.Create):
            record["StatementType"] = _register(backend, database, statement)
        else:
            record["StatementType"] = "DML"
            record["names"], record["types"], record["rows"] = _run_select(req, backend, database, statement)
        record["State"] = "SUCCEEDED"
    except (ServiceError, sqlglot.errors.ParseError) as exc:
        record["State"], record["StateChangeReason"] = "FAILED", str(exc).splitlines()[0]
    if output:
        record["OutputLocation"] = output.rstrip("/") + f"/{execution_id}.csv"
        if record["State"] == "SUCCEEDED" and record["StatementType"] == "DML":
            _write_csv(req.account_id, record)
    record["CompletionDateTime"] = dt.datetime.now(dt.timezone.utc)
    backend.executions[execution_id] = record
    return {"QueryExecutionId": execution_id}


def _write_csv(account: str, record: dict[str, Any]) -> None:
    from moto.s3.models import s3_backends

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(record["names"])
    writer.writerows([[_text(v) or "" for v in row] for row in record["rows"]])
    bucket, key = _split_s3(record["OutputLocation"])
    # Athena fails a query whose results it cannot write; here the results stay readable regardless.
    with contextlib.suppress(Exception):
        s3_backends[account]["aws"].put_object(bucket, key, buffer.getvalue().encode())


def _execution(req: Request) -> dict[str, Any]:
    record = _backend(req).executions.get(req.params["QueryExecutionId"])
    if record is None:
        raise InvalidRequestException(f"QueryExecution {req.params['QueryExecutionId']} was not found")
    return record


def get_query_execution(req: Request) -> dict[str, Any]:
    r = _execution(req)
    status: dict[str, Any] = {
        "State": r["State"],
        "SubmissionDateTime": r["SubmissionDateTime"],
        "CompletionDateTime": r["CompletionDateTime"],
    }
    if "StateChangeReason" in r:
        status["StateChangeReason"] = r["StateChangeReason"]
    answer: dict[str, Any] = {
        "QueryExecutionId": r["QueryExecutionId"],
        "Query": r["Query"],
        "StatementType": r.get("StatementType", "DML"),
        "QueryExecutionContext": r["QueryExecutionContext"],
        "Status": status,
        "WorkGroup": r["WorkGroup"],
    }
    if "OutputLocation" in r:
        answer["ResultConfiguration"] = {"OutputLocation": r["OutputLocation"]}
    return {"QueryExecution": answer}


def get_query_results(req: Request) -> dict[str, Any]:
    r = _execution(req)
    if r["State"] != "SUCCEEDED":
        raise InvalidRequestException(f"Query has not yet finished. Current state: {r['State']}")
    table = [[*r["names"]], *[[_text(v) for v in row] for row in r["rows"]]] if r["StatementType"] == "DML" else []
    start = int(req.params.get("NextToken") or 0)
    size = int(req.params.get("MaxResults") or 1000)
    page = table[start : start + size]
    answer: dict[str, Any] = {
        "ResultSet": {
            "Rows": [{"Data": [{"VarCharValue": v} if v is not None else {} for v in row]} for row in page],
            "ResultSetMetadata": {
                "ColumnInfo": [
                    {"CatalogName": "hive", "Name": n, "Label": n, "Type": t, "Nullable": "UNKNOWN"}
                    for n, t in zip(r["names"], r["types"], strict=True)
                ]
            },
        },
        "UpdateCount": 0,
    }
    if start + size < len(table):
        answer["NextToken"] = str(start + size)
    return answer


operations = {
    "StartQueryExecution": start_query_execution,
    "GetQueryExecution": get_query_execution,
    "GetQueryResults": get_query_results,
}
