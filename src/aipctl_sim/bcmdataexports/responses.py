"""Handlers of the Data Exports API."""

from __future__ import annotations

from typing import Any

from aipctl_sim.bcmdataexports.models import exports_backend
from aipctl_sim.bcmdataexports.schema import TABLE, TABLE_PROPERTIES, columns_of
from aipctl_sim.protocol import Request, ValidationException


def create_export(req: Request) -> dict[str, Any]:
    export = exports_backend(req.account_id).create(req.params["Export"], req.params.get("ResourceTags") or [])
    return {"ExportArn": export.arn}


def get_export(req: Request) -> dict[str, Any]:
    export = exports_backend(req.account_id).get(req.params["ExportArn"])
    return {"Export": export.describe(), "ExportStatus": export.status()}


def list_exports(req: Request) -> dict[str, Any]:
    found = sorted(exports_backend(req.account_id).exports.values(), key=lambda e: e.created_at)
    start = int(req.params.get("NextToken") or 0)
    size = int(req.params.get("MaxResults") or 100)
    page = found[start : start + size]
    out: dict[str, Any] = {"Exports": [{"ExportArn": e.arn, "ExportName": e.name, "ExportStatus": e.status()} for e in page]}
    if start + size < len(found):
        out["NextToken"] = str(start + size)
    return out


def delete_export(req: Request) -> dict[str, Any]:
    return {"ExportArn": exports_backend(req.account_id).delete(req.params["ExportArn"])}


def update_export(req: Request) -> dict[str, Any]:
    return {"ExportArn": exports_backend(req.account_id).update(req.params["ExportArn"], req.params["Export"]).arn}


def list_executions(req: Request) -> dict[str, Any]:
    export = exports_backend(req.account_id).get(req.params["ExportArn"])
    return {"Executions": [x.describe() for x in reversed(export.executions)]}


def get_execution(req: Request) -> dict[str, Any]:
    export = exports_backend(req.account_id).get(req.params["ExportArn"])
    for execution in export.executions:
        if execution.execution_id == req.params["ExecutionId"]:
            return {"ExecutionId": execution.execution_id, "Export": export.describe(), "ExecutionStatus": execution.status()}
    from aipctl_sim.protocol import ResourceNotFoundException

    raise ResourceNotFoundException(f"Execution {req.params['ExecutionId']} not found")


def list_tables(req: Request) -> dict[str, Any]:
    return {
        "Tables": [
            {
                "TableName": TABLE,
                "Description": "Cost and Usage Report 2.0 (the columns the emulator delivers for Amazon Bedrock)",
                "TableProperties": [
                    {"Name": name, "DefaultValue": default, "ValidValues": list(valid), "Description": name}
                    for name, (default, valid) in TABLE_PROPERTIES.items()
                ],
            }
        ]
    }


def get_table(req: Request) -> dict[str, Any]:
    if req.params["TableName"] != TABLE:
        raise ValidationException(f"Table {req.params['TableName']} is not supported (only {TABLE})")
    properties = {name: default for name, (default, _) in TABLE_PROPERTIES.items()} | dict(
        req.params.get("TableProperties") or {}
    )
    return {
        "TableName": TABLE,
        "Description": "Cost and Usage Report 2.0",
        "TableProperties": properties,
        "Schema": [{"Name": name, "Type": kind, "Description": name} for name, kind in columns_of(properties).items()],
    }
