"""Athena's backend: tables registered by DDL and executions that really run (DuckDB over the emulated S3).

``StartQueryExecution`` / ``GetQueryExecution`` / ``GetQueryResults`` that really run.

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
from pathlib import Path
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend
from moto.moto_api._internal import mock_random

from aipctl_sim.protocol import ServiceError, ValidationException


class InvalidRequestException(ServiceError):
    code, status = "InvalidRequestException", 400


class AthenaSimBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.tables: dict[tuple[str, str], dict[str, Any]] = {}
        self.executions: dict[str, dict[str, Any]] = {}

    def start(self, query: str, database: str, output: str | None, workgroup: str) -> str:
        """Run ``query`` to completion (DDL registers a table; a SELECT keeps its rows); returns the execution id."""
        import sqlglot

        execution_id = str(mock_random.uuid4())
        record: dict[str, Any] = {
            "QueryExecutionId": execution_id,
            "Query": query,
            "QueryExecutionContext": {"Database": database, "Catalog": "AwsDataCatalog"},
            "WorkGroup": workgroup,
            "SubmissionDateTime": dt.datetime.now(dt.timezone.utc),
            "names": [],
            "types": [],
            "rows": [],
        }
        try:
            statement = sqlglot.parse_one(query, read="athena")
            if isinstance(statement, sqlglot.exp.Create):
                record["StatementType"] = self._register(database, statement)
            else:
                record["StatementType"] = "DML"
                record["names"], record["types"], record["rows"] = self._run_select(database, statement)
            record["State"] = "SUCCEEDED"
        except (ServiceError, sqlglot.errors.ParseError) as exc:
            record["State"], record["StateChangeReason"] = "FAILED", str(exc).splitlines()[0]
        if output:
            record["OutputLocation"] = output.rstrip("/") + f"/{execution_id}.csv"
            if record["State"] == "SUCCEEDED" and record["StatementType"] == "DML":
                self._write_csv(record)
        record["CompletionDateTime"] = dt.datetime.now(dt.timezone.utc)
        self.executions[execution_id] = record
        return execution_id

    def execution(self, execution_id: str) -> dict[str, Any]:
        record = self.executions.get(execution_id)
        if record is None:
            raise InvalidRequestException(f"QueryExecution {execution_id} was not found")
        return record

    def _register(self, database: str, statement: Any) -> str:
        from sqlglot import exp

        schema = statement.this
        table = schema.this if isinstance(schema, exp.Schema) else schema
        location = statement.find(exp.LocationProperty)
        if location is None:
            raise InvalidRequestException("CREATE EXTERNAL TABLE needs a LOCATION 's3://…'")
        columns = {c.name: c.args["kind"].sql(dialect="duckdb") for c in schema.expressions if isinstance(c, exp.ColumnDef)}
        partitions = statement.find(exp.PartitionedByProperty)
        parts = [c.name for c in partitions.find_all(exp.ColumnDef)] if partitions is not None else []
        self.tables[(database, table.name.lower())] = {
            "location": location.this.name,
            "columns": columns,
            "partitions": parts,
        }
        return "DDL"

    def _objects(self, location: str, folder: Path) -> list[Path]:
        from moto.s3.models import s3_backends

        bucket, prefix = split_s3(location)
        backend = s3_backends[self.account_id]["aws"]
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

    def _run_select(self, database: str, statement: Any) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
        import duckdb
        from sqlglot import exp

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        with tempfile.TemporaryDirectory(prefix="aipctl-sim-athena-") as tmp:
            for table in {t.name.lower() for t in statement.find_all(exp.Table)}:
                spec = self.tables.get((database, table))
                if spec is None:
                    continue
                folder = Path(tmp) / table
                folder.mkdir()
                files = self._objects(spec["location"], folder)
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

    def _write_csv(self, record: dict[str, Any]) -> None:
        from moto.s3.models import s3_backends

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(record["names"])
        writer.writerows([[as_text(v) or "" for v in row] for row in record["rows"]])
        bucket, key = split_s3(record["OutputLocation"])
        # Athena fails a query whose results it cannot write; here the results stay readable regardless.
        with contextlib.suppress(Exception):
            s3_backends[self.account_id]["aws"].put_object(bucket, key, buffer.getvalue().encode())


athena_sim_backends = BackendDict(AthenaSimBackend, "athena")


def split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValidationException(f"{uri} is not an s3:// location")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix


def as_text(value: Any) -> str | None:
    """A value the way Athena returns it: a string, None for NULL."""
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    return str(value)
