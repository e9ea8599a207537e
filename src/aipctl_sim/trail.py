"""CloudTrail's view of the emulated account.

Runtime calls are stored once, as telemetry rows, and turned into CloudTrail events when read.
Control-plane calls (ours and moto's) are stored as events when they happen.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any

from aipctl_sim import journal, settings, telemetry
from aipctl_sim.identity import identity_for
from aipctl_sim.protocol import Request

READ_PREFIXES = ("Get", "List", "Describe", "Lookup", "Search", "Head")
#: Which request parameter names the resource of a Bedrock control-plane call.
_RESOURCE_PARAMS = ("inferenceProfileIdentifier", "inferenceProfileName", "resourceARN", "modelIdentifier")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event(
    ts: float,
    account: str,
    region: str,
    source: str,
    name: str,
    identity: Any,
    request_id: str,
    request_parameters: Any,
    response_elements: Any,
    error_code: str | None,
    read_only: bool,
    event_id: str,
    user_agent: str = "",
    error_message: str | None = None,
) -> dict[str, Any]:
    event = {
        "eventVersion": "1.09",
        "userIdentity": identity.cloudtrail(_iso(ts)),
        "eventTime": _iso(ts),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "127.0.0.1",
        "userAgent": user_agent or "aipctl-sim",
        "requestParameters": request_parameters,
        "responseElements": response_elements,
        "requestID": request_id,
        "eventID": event_id,
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if error_code:
        event["errorCode"] = error_code
        event["errorMessage"] = error_message or f"The request failed with {error_code}."
    return event


def record_management(req: Request, result: Mapping[str, Any] | None) -> None:
    """A call of ours to a control-plane API (bedrock, ce, tagging), as CloudTrail would log it."""
    if (req.service == "cloudtrail" and req.operation == "LookupEvents") or journal.replaying():
        return  # a replayed write was logged when it happened
    identity = identity_for(req.account_id, req.access_key_id)
    ts = settings.now().timestamp()
    params = {k: v for k, v in req.params.items() if not isinstance(v, bytes | bytearray)}
    resource = next((str(req.params[p]) for p in _RESOURCE_PARAMS if req.params.get(p)), None)
    if resource is None and result and "inferenceProfileArn" in result:
        resource = str(result["inferenceProfileArn"])
    source = {
        "bedrock": "bedrock.amazonaws.com",
        "ce": "ce.amazonaws.com",
        "resourcegroupstaggingapi": "tagging.amazonaws.com",
    }.get(req.service, f"{req.service}.amazonaws.com")
    read_only = req.operation.startswith(READ_PREFIXES)
    response = dict(result) if result and not read_only else None
    event = _event(
        ts,
        req.account_id,
        req.region,
        source,
        req.operation,
        identity,
        req.request_id,
        params or None,
        _jsonable(response),
        None,
        read_only,
        str(uuid.uuid4()),
        user_agent=str(req.headers.get("User-Agent", "")),
    )
    telemetry.store().record_event(
        ts,
        req.account_id,
        req.region,
        req.operation,
        source,
        read_only,
        identity.username,
        req.access_key_id,
        resource,
        "AWS::Bedrock::InferenceProfile" if resource else None,
        event,
    )


def record_moto_call(scope: tuple[str, str, str], service: str, operation: str, status: str, user_agent: str = "") -> None:
    """A call moto served (IAM, STS, S3 ...): logged without parameters."""
    if operation in ("LookupEvents",) or journal.replaying():
        return
    access_key, signing_name, region = scope
    from moto.iam.models import get_account_id_from

    account = get_account_id_from(access_key)
    identity = identity_for(account, access_key)
    ts = settings.now().timestamp()
    code = None if status.startswith(("2", "3")) else f"HTTP{status.split(maxsplit=1)[0]}"
    source = f"{signing_name}.amazonaws.com"
    read_only = operation.startswith(READ_PREFIXES)
    event = _event(
        ts,
        account,
        region,
        source,
        operation,
        identity,
        str(uuid.uuid4()),
        None,
        None,
        code,
        read_only,
        str(uuid.uuid4()),
        user_agent=user_agent,
    )
    telemetry.store().record_event(
        ts, account, region, operation, source, read_only, identity.username, access_key, None, None, event
    )


def runtime_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudTrail event of one runtime call row (``telemetry.calls``)."""
    from aipctl_sim.identity import CallerIdentity

    identity = CallerIdentity(
        row["identity_type"],
        row["principal_arn"],
        row["principal_id"],
        row["access_key"],
        row["account"],
        user_name=None if row["identity_type"] == "AssumedRole" else row["username"],
        role_arn=row["role_arn"],
        session_name=row["username"] if row["identity_type"] == "AssumedRole" else None,
        source_identity=row.get("source_identity"),
    )
    error = None if row["status"] == "ok" else row["status"]
    bearer = row.get("bearer_token_type")
    mantle = str(row["operation"]).startswith(MANTLE_PREFIX)
    parameters: dict[str, Any] = {"model": row["model_id"]} if mantle else {"modelId": row["model_id"]}
    if mantle:  # bedrock-mantle adds these to the request parameters of every event
        parameters["callWithBearerToken"] = bearer is not None
        if bearer:
            parameters["bearerTokenType"] = bearer
    event = _event(
        row["ts"],
        row["account"],
        row["region"],
        MANTLE_SOURCE if mantle else "bedrock.amazonaws.com",
        row["operation"].removeprefix(MANTLE_PREFIX),
        identity,
        row["request_id"],
        parameters,
        None,
        error,
        False,
        row["request_id"],
        user_agent=row.get("user_agent") or "",
        error_message=row.get("error_message"),
    )
    if mantle:  # inference on bedrock-mantle is a data event on the account's (default) project
        event.update(
            eventVersion="1.11",
            managementEvent=False,
            eventCategory="Data",
            resources=[{"accountId": row["account"], "type": MANTLE_RESOURCE_TYPE, "ARN": mantle_project_arn(row)}],
        )
    else:  # the key's type as mantle states it (AWS documents only callWithBearerToken for bedrock-runtime)
        event["additionalEventData"] = {"callWithBearerToken": bearer is not None} | (
            {"bearerTokenType": bearer} if bearer else {}
        )
    return event


#: bedrock-mantle's calls: telemetry operations ``mantle:<EventName>``, CloudTrail data events of this source and type.
MANTLE_PREFIX = "mantle:"
MANTLE_SOURCE = "bedrock-mantle.amazonaws.com"
MANTLE_RESOURCE_TYPE = "AWS::BedrockMantle::Project"


def mantle_project_arn(row: Mapping[str, Any]) -> str:
    """The project a mantle call ran in: always the default one (the emulator has no Bedrock Projects)."""
    return f"arn:aws:bedrock-mantle:{row['region']}:{row['account']}:project/default"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str)) if value is not None else None
