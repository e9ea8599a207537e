"""CloudWatch Logs adapter: model invocation log events, one stream at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target


@dataclass(frozen=True)
class Stream:
    name: str
    last_event_ms: int
    stored_bytes: int


class LogEvents:
    def __init__(self, target: Target) -> None:
        self.client = target.client("logs")

    @requires("logs:DescribeLogStreams")
    def streams(self, group: str) -> list[Stream]:
        out: list[Stream] = []
        kwargs: dict[str, Any] = {"logGroupName": group}
        while True:
            with aws_call("logs", "DescribeLogStreams", group):
                page = self.client.describe_log_streams(**kwargs)
            for item in page.get("logStreams", []):
                last = item.get("lastEventTimestamp") or item.get("lastIngestionTime") or 0
                out.append(Stream(item["logStreamName"], int(last), int(item.get("storedBytes") or 0)))
            token = page.get("nextToken")
            if not token:
                return out
            kwargs["nextToken"] = token

    @requires("logs:GetLogEvents")
    def messages(self, group: str, stream: str, start_ms: int, end_ms: int) -> bytes:
        """The events' messages in [start_ms, end_ms), oldest first, as JSON lines."""
        lines: list[str] = []
        kwargs: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": stream,
            "startTime": start_ms,
            "endTime": end_ms,
            "startFromHead": True,
        }
        while True:
            with aws_call("logs", "GetLogEvents", f"{group}/{stream}"):
                page = self.client.get_log_events(**kwargs)
            lines += [event["message"] for event in page.get("events", [])]
            token = page.get("nextForwardToken")
            if not page.get("events") or not token or token == kwargs.get("nextToken"):
                return ("\n".join(lines) + "\n").encode() if lines else b""
            kwargs["nextToken"] = token
