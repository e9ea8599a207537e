"""SNS adapter: alerts of the budget guard."""

from __future__ import annotations

from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target


class Topics:
    def __init__(self, target: Target) -> None:
        self.target = target

    @requires("sns:Publish")
    def publish(self, topic_arn: str, subject: str, message: str) -> None:
        region = topic_arn.split(":")[3] or None
        with aws_call("sns", "Publish", topic_arn):
            self.target.client("sns", region=region).publish(TopicArn=topic_arn, Subject=subject[:100], Message=message)
