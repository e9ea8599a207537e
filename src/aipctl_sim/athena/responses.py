"""Athena's responses: parse the request, ask the backend, answer in Athena's shapes."""

from __future__ import annotations

from typing import Any

from aipctl_sim.athena.models import AthenaSimBackend, InvalidRequestException, as_text, athena_sim_backends
from aipctl_sim.protocol import Request


def _backend(req: Request) -> AthenaSimBackend:
    return athena_sim_backends[req.account_id][req.region]


def start_query_execution(req: Request) -> dict[str, Any]:
    p = req.params
    database = str((p.get("QueryExecutionContext") or {}).get("Database") or "default").lower()
    output = (p.get("ResultConfiguration") or {}).get("OutputLocation")
    execution_id = _backend(req).start(p["QueryString"], database, output, p.get("WorkGroup") or "primary")
    return {"QueryExecutionId": execution_id}


def get_query_execution(req: Request) -> dict[str, Any]:
    r = _backend(req).execution(req.params["QueryExecutionId"])
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
    r = _backend(req).execution(req.params["QueryExecutionId"])
    if r["State"] != "SUCCEEDED":
        raise InvalidRequestException(f"Query has not yet finished. Current state: {r['State']}")
    table = [[*r["names"]], *[[as_text(v) for v in row] for row in r["rows"]]] if r["StatementType"] == "DML" else []
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
