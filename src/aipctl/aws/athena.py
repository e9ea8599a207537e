"""Athena adapter: run a statement, wait for it, read its result set."""

from __future__ import annotations

import time
from typing import Any

from aipctl._exceptions import AipctlError
from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target


class Athena:
    def __init__(self, target: Target) -> None:
        self.client = target.client("athena")

    @requires(
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "glue:GetDatabase",
        "glue:GetTable",
        "glue:CreateTable",
        "s3:GetBucketLocation",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    )
    def run(self, sql: str, *, database: str, output: str, workgroup: str = "primary", timeout_s: float = 900) -> dict[str, Any]:
        """Execute ``sql``; returns {"id", "columns", "rows"} (values as Athena's strings, None for NULL)."""
        with aws_call("athena", "StartQueryExecution"):
            execution_id = self.client.start_query_execution(
                QueryString=sql,
                QueryExecutionContext={"Database": database},
                ResultConfiguration={"OutputLocation": output},
                WorkGroup=workgroup,
            )["QueryExecutionId"]
        deadline, delay = time.monotonic() + timeout_s, 0.2
        while True:
            with aws_call("athena", "GetQueryExecution", execution_id):
                status = self.client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]
            if status["State"] == "SUCCEEDED":
                break
            if status["State"] in ("FAILED", "CANCELLED"):
                raise AipctlError(f"Athena query {execution_id} {status['State'].lower()}: {status.get('StateChangeReason', '')}")
            if time.monotonic() > deadline:
                raise AipctlError(f"Athena query {execution_id} still {status['State']} after {timeout_s:.0f} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 3.0)
        columns: list[str] = []
        rows: list[list[str | None]] = []
        kwargs: dict[str, Any] = {"QueryExecutionId": execution_id, "MaxResults": 1000}
        while True:
            with aws_call("athena", "GetQueryResults", execution_id):
                page = self.client.get_query_results(**kwargs)
            result = page["ResultSet"]
            if not columns:
                columns = [c["Name"] for c in result.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
            for row in result.get("Rows", []):
                values = [cell.get("VarCharValue") for cell in row.get("Data", [])]
                if not rows and values == columns and "NextToken" not in kwargs:
                    continue  # a SELECT's first row repeats the column names
                rows.append(values)
            if not page.get("NextToken"):
                return {"id": execution_id, "columns": columns, "rows": rows}
            kwargs["NextToken"] = page["NextToken"]
