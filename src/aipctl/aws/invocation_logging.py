"""Model invocation logging and its destinations: the S3 bucket and policy, the log group, the delivery role.

What Bedrock needs, after the Bedrock user guide ("Monitor model invocation using CloudWatch Logs and
Amazon S3", https://docs.aws.amazon.com/bedrock/latest/userguide/model-invocation-logging.html): the
bucket in the same Region, with a policy letting ``bedrock.amazonaws.com`` put objects under
``<prefix>/AWSLogs/<account>/BedrockModelInvocationLogs/``, conditioned on this account
(``aws:SourceAccount``) and Bedrock in this Region (``aws:SourceArn``); for CloudWatch Logs a role
Bedrock assumes (trust on the same conditions) that may create the stream and put events in the
group. aipctl adds nothing broader: ``s3:PutObject`` only, on the log prefix only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aipctl._exceptions import AwsError
from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target

#: The Sid of aipctl's statement in a bucket policy (replaced by Sid; other statements are kept).
BUCKET_SID = "AipctlBedrockInvocationLogs"
#: The inline policy aipctl puts on the delivery role.
ROLE_POLICY = "aipctl-invocation-logs"
#: The log stream Bedrock writes to (the user guide's role policy names it).
LOG_STREAM = "aws/bedrock/modelinvocations"
_MISSING = ("NoSuchBucket", "NotFound", "404", "ResourceNotFoundException", "NoSuchEntity", "NoSuchBucketPolicy")


@dataclass(frozen=True)
class Bucket:
    exists: bool
    tags: dict[str, str]
    policy: dict[str, Any] | None


@dataclass(frozen=True)
class Role:
    exists: bool
    arn: str | None
    tags: dict[str, str]
    trust: dict[str, Any] | None
    policy: dict[str, Any] | None


def bucket_statement(bucket: str, prefix: str, account: str, region: str, partition: str = "aws") -> dict[str, Any]:
    path = "/".join(p for p in (prefix.strip("/"), f"AWSLogs/{account}/BedrockModelInvocationLogs") if p)
    return {
        "Sid": BUCKET_SID,
        "Effect": "Allow",
        "Principal": {"Service": "bedrock.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:{partition}:s3:::{bucket}/{path}/*",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {"aws:SourceArn": f"arn:{partition}:bedrock:{region}:{account}:*"},
        },
    }


def trust_policy(account: str, region: str, partition: str = "aws") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "bedrock.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:bedrock:{region}:{account}:*"},
                },
            }
        ],
    }


def role_policy(group: str, account: str, region: str, partition: str = "aws") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:{partition}:logs:{region}:{account}:log-group:{group}:log-stream:{LOG_STREAM}",
            }
        ],
    }


class InvocationLoggingControl:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.bedrock = target.client("bedrock")
        self.s3 = target.client("s3")
        self.logs = target.client("logs")
        self.iam = target.client("iam")

    @requires("bedrock:GetModelInvocationLoggingConfiguration")
    def configuration(self) -> dict[str, Any]:
        """The Region's logging configuration ({} when logging is off)."""
        with aws_call("bedrock", "GetModelInvocationLoggingConfiguration"):
            answer = self.bedrock.get_model_invocation_logging_configuration()
        return dict(answer.get("loggingConfig") or {})

    @requires("bedrock:PutModelInvocationLoggingConfiguration")
    def put_configuration(self, config: dict[str, Any]) -> None:
        """With a CloudWatch Logs destination the caller also needs ``iam:PassRole`` on the delivery role,
        which aipctl's least-privilege policies never grant (passing roles is an escalation primitive):
        that apply runs with IAM rights, like the role's creation (docs/metering.md)."""
        with aws_call("bedrock", "PutModelInvocationLoggingConfiguration"):
            self.bedrock.put_model_invocation_logging_configuration(loggingConfig=config)

    @requires("s3:ListBucket", "s3:GetBucketTagging", "s3:GetBucketPolicy")
    def bucket(self, name: str) -> Bucket:
        try:
            with aws_call("s3", "HeadBucket", name):
                self.s3.head_bucket(Bucket=name)
        except AwsError as exc:
            if exc.code in _MISSING:
                return Bucket(False, {}, None)
            raise
        tags: dict[str, str] = {}
        try:
            with aws_call("s3", "GetBucketTagging", name):
                tags = {t["Key"]: t["Value"] for t in self.s3.get_bucket_tagging(Bucket=name).get("TagSet", [])}
        except AwsError as exc:
            if exc.code != "NoSuchTagSet":
                raise
        policy: dict[str, Any] | None = None
        try:
            with aws_call("s3", "GetBucketPolicy", name):
                policy = json.loads(self.s3.get_bucket_policy(Bucket=name)["Policy"])
        except AwsError as exc:
            if exc.code not in _MISSING:
                raise
        return Bucket(True, tags, policy)

    @requires("s3:CreateBucket", "s3:PutBucketTagging", "s3:PutBucketPublicAccessBlock")
    def create_bucket(self, name: str, tags: dict[str, str]) -> None:
        from aipctl.aws.buckets import create_bucket

        create_bucket(self.s3, name, self.target.region)
        with aws_call("s3", "PutPublicAccessBlock", name):
            self.s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
        with aws_call("s3", "PutBucketTagging", name):
            self.s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]})

    @requires("s3:PutBucketPolicy")
    def put_bucket_policy(self, name: str, policy: dict[str, Any]) -> None:
        with aws_call("s3", "PutBucketPolicy", name):
            self.s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))

    @requires("logs:DescribeLogGroups")
    def log_group(self, name: str) -> dict[str, Any] | None:
        kwargs: dict[str, Any] = {"logGroupNamePrefix": name}
        while True:
            with aws_call("logs", "DescribeLogGroups", name):
                page = self.logs.describe_log_groups(**kwargs)
            for group in page.get("logGroups", []):
                if group["logGroupName"] == name:
                    return dict(group)
            if not page.get("nextToken"):
                return None
            kwargs["nextToken"] = page["nextToken"]

    @requires("logs:CreateLogGroup", "logs:TagResource")
    def create_log_group(self, name: str, tags: dict[str, str]) -> None:
        with aws_call("logs", "CreateLogGroup", name):
            self.logs.create_log_group(logGroupName=name, tags=tags)

    @requires("iam:GetRole", "iam:GetRolePolicy")
    def role(self, name: str) -> Role:
        try:
            with aws_call("iam", "GetRole", name):
                role = self.iam.get_role(RoleName=name)["Role"]
        except AwsError as exc:
            if exc.code in _MISSING:
                return Role(False, None, {}, None, None)
            raise
        trust = role.get("AssumeRolePolicyDocument")
        if isinstance(trust, str):  # botocore decodes it; some endpoints send it URL-encoded JSON
            trust = json.loads(unquote_json(trust))
        policy: dict[str, Any] | None = None
        try:
            with aws_call("iam", "GetRolePolicy", name):
                document = self.iam.get_role_policy(RoleName=name, PolicyName=ROLE_POLICY)["PolicyDocument"]
            policy = json.loads(unquote_json(document)) if isinstance(document, str) else dict(document)
        except AwsError as exc:
            if exc.code not in _MISSING:
                raise
        tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
        return Role(True, str(role["Arn"]), tags, trust, policy)

    @requires("iam:CreateRole", "iam:TagRole")
    def create_role(self, name: str, trust: dict[str, Any], tags: dict[str, str]) -> str:
        with aws_call("iam", "CreateRole", name):
            answer = self.iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description="Amazon Bedrock writes model invocation logs to CloudWatch Logs (created by aipctl)",
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            )
        return str(answer["Role"]["Arn"])

    @requires("iam:PutRolePolicy")
    def put_role_policy(self, name: str, policy: dict[str, Any]) -> None:
        with aws_call("iam", "PutRolePolicy", name):
            self.iam.put_role_policy(RoleName=name, PolicyName=ROLE_POLICY, PolicyDocument=json.dumps(policy))


def unquote_json(text: str) -> str:
    """IAM policy documents arrive URL-encoded from the raw API (botocore usually decodes them)."""
    from urllib.parse import unquote

    return unquote(text) if text.startswith("%7B") else text


def partition_of(region: str) -> str:
    return "aws-us-gov" if region.startswith("us-gov-") else "aws-cn" if region.startswith("cn-") else "aws"
