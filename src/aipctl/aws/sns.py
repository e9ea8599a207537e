"""SNS adapter: the alert topic (created and checked by plan/apply) and the guard's alerts."""

from __future__ import annotations

import json
from typing import Any

from aipctl._exceptions import AwsError
from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target


class Topics:
    def __init__(self, target: Target) -> None:
        self.target = target

    def _client(self, topic_arn: str) -> Any:
        return self.target.client("sns", region=topic_arn.split(":")[3] or None)

    @requires("sns:Publish")
    def publish(self, topic_arn: str, subject: str, message: str) -> None:
        with aws_call("sns", "Publish", topic_arn):
            self._client(topic_arn).publish(TopicArn=topic_arn, Subject=subject[:100], Message=message)

    @requires("sns:GetTopicAttributes", "sns:ListTagsForResource")
    def describe(self, topic_arn: str) -> tuple[dict[str, Any], dict[str, str]] | None:
        """(policy, tags) of the topic; None when it does not exist."""
        client = self._client(topic_arn)
        try:
            with aws_call("sns", "GetTopicAttributes", topic_arn):
                attributes = client.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
        except AwsError as exc:
            if exc.code in ("NotFound", "NotFoundException"):
                return None
            raise
        with aws_call("sns", "ListTagsForResource", topic_arn):
            tags = {t["Key"]: t["Value"] for t in client.list_tags_for_resource(ResourceArn=topic_arn).get("Tags", [])}
        policy = json.loads(attributes["Policy"]) if attributes.get("Policy") else {}
        return policy, tags

    @requires("sns:CreateTopic", "sns:TagResource")
    def create(self, topic_arn: str, tags: dict[str, str]) -> str:
        name = topic_arn.rsplit(":", 1)[-1]
        attributes = {"FifoTopic": "true"} if name.endswith(".fifo") else {}
        with aws_call("sns", "CreateTopic", name):
            answer = self._client(topic_arn).create_topic(
                Name=name, Attributes=attributes, Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())]
            )
        return str(answer["TopicArn"])

    @requires("sns:SetTopicAttributes")
    def set_policy(self, topic_arn: str, policy: dict[str, Any]) -> None:
        with aws_call("sns", "SetTopicAttributes", topic_arn):
            self._client(topic_arn).set_topic_attributes(
                TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps(policy)
            )

    @requires("sns:ListSubscriptionsByTopic")
    def subscriptions(self, topic_arn: str) -> set[tuple[str, str]]:
        """(protocol, endpoint) of every subscription, confirmed or pending."""
        out: set[tuple[str, str]] = set()
        kwargs: dict[str, Any] = {"TopicArn": topic_arn}
        while True:
            with aws_call("sns", "ListSubscriptionsByTopic", topic_arn):
                page = self._client(topic_arn).list_subscriptions_by_topic(**kwargs)
            out |= {(s["Protocol"], s["Endpoint"]) for s in page.get("Subscriptions", [])}
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    @requires("sns:Subscribe")
    def subscribe(self, topic_arn: str, protocol: str, endpoint: str) -> None:
        with aws_call("sns", "Subscribe", f"{topic_arn} {protocol}"):
            self._client(topic_arn).subscribe(TopicArn=topic_arn, Protocol=protocol, Endpoint=endpoint)
