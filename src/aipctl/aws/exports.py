"""CUR 2.0 through AWS Data Exports (bcm-data-exports): the export aipctl reads as the bill of record.

``aipctl cur setup`` creates, once per account, a bucket Data Exports may write to and a CUR 2.0
export with resource ids and the calling IAM principal, as Parquet, overwriting each billing
period's file when it is refreshed. Data Exports is a global service reached in us-east-1.

Sources: bcm-data-exports API reference (CreateExport, GetExport, ListExports); Data Exports user
guide, "Setting up an Amazon S3 bucket for data exports" (the bucket policy below) and
"Understanding export delivery" (the S3 layout :mod:`aipctl.meter.cur` reads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target

EXPORTS_REGION = "us-east-1"
TABLE = "COST_AND_USAGE_REPORT"
#: What aipctl reads of CUR 2.0 (names from the CUR 2.0 data dictionary).
COLUMNS = (
    "identity_line_item_id",
    "bill_billing_period_start_date",
    "line_item_line_item_type",
    "line_item_usage_account_id",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_operation",
    "line_item_resource_id",
    "line_item_iam_principal",
    "line_item_usage_amount",
    "line_item_unblended_cost",
    "line_item_net_unblended_cost",
    "product_region_code",
    "resource_tags",
)
TABLE_PROPERTIES = {
    "TIME_GRANULARITY": "HOURLY",
    "INCLUDE_RESOURCES": "TRUE",
    # The console's "Include caller identity (IAM principal) allocation data" (issue 13; docs/decisions.md).
    "INCLUDE_IAM_PRINCIPAL_DATA": "TRUE",
    "INCLUDE_MANUAL_DISCOUNT_COMPATIBILITY": "FALSE",
    "INCLUDE_SPLIT_COST_ALLOCATION_DATA": "FALSE",
}


@dataclass(frozen=True)
class ExportInfo:
    arn: str
    name: str
    bucket: str
    prefix: str
    query: str
    properties: dict[str, str]

    @property
    def data_uri(self) -> str:
        """Where the export's data files land (every billing period below it)."""
        return f"s3://{self.bucket}/{'/'.join(p for p in (self.prefix.strip('/'), self.name) if p)}/data/"

    @property
    def has_principals(self) -> bool:
        return (
            self.properties.get("INCLUDE_IAM_PRINCIPAL_DATA", "FALSE").upper() == "TRUE"
            and "line_item_iam_principal" in self.query
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "export_arn": self.arn,
            "name": self.name,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "source": self.data_uri,
            "iam_principal_data": self.has_principals,
        }


def bucket_policy(bucket: str, account: str) -> dict[str, Any]:
    """The policy that lets Data Exports (and the legacy CUR service) deliver to ``bucket`` for ``account`` only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnableAWSDataExportsToWriteToS3AndCheckPolicy",
                "Effect": "Allow",
                "Principal": {"Service": ["billingreports.amazonaws.com", "bcm-data-exports.amazonaws.com"]},
                "Action": ["s3:PutObject", "s3:GetBucketPolicy"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {
                    "StringLike": {
                        "aws:SourceArn": [
                            f"arn:aws:cur:us-east-1:{account}:definition/*",
                            f"arn:aws:bcm-data-exports:us-east-1:{account}:export/*",
                        ]
                    },
                    "StringEquals": {"aws:SourceAccount": account},
                },
            }
        ],
    }


class DataExports:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.client = target.client("bcm-data-exports", EXPORTS_REGION)

    @requires("bcm-data-exports:ListExports", "bcm-data-exports:GetExport")
    def find(self, name: str) -> ExportInfo | None:
        kwargs: dict[str, Any] = {}
        while True:
            with aws_call("bcm-data-exports", "ListExports"):
                page = self.client.list_exports(**kwargs)
            for ref in page.get("Exports", []):
                if ref["ExportName"] == name:
                    return self.get(ref["ExportArn"])
            if not page.get("NextToken"):
                return None
            kwargs["NextToken"] = page["NextToken"]

    @requires("bcm-data-exports:GetExport")
    def get(self, arn: str) -> ExportInfo:
        with aws_call("bcm-data-exports", "GetExport", arn):
            export = self.client.get_export(ExportArn=arn)["Export"]
        s3 = export["DestinationConfigurations"]["S3Destination"]
        query = export["DataQuery"]
        return ExportInfo(
            export["ExportArn"],
            export["Name"],
            s3["S3Bucket"],
            s3.get("S3Prefix", ""),
            query["QueryStatement"],
            dict((query.get("TableConfigurations") or {}).get(TABLE, {})),
        )

    @requires("s3:CreateBucket", "s3:PutBucketPolicy")
    def prepare_bucket(self, bucket: str, region: str) -> None:
        from aipctl.aws.buckets import create_bucket

        s3 = self.target.client("s3", region)
        create_bucket(s3, bucket, region, exist_ok=True)
        with aws_call("s3", "PutBucketPolicy", bucket):
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(bucket_policy(bucket, self.target.account)))

    @requires("bcm-data-exports:CreateExport", "cur:PutReportDefinition")
    def create(self, name: str, bucket: str, prefix: str, region: str, *, tags: dict[str, str]) -> str:
        export = {
            "Name": name,
            "Description": "CUR 2.0 for aipctl: Amazon Bedrock cost per AIP and per IAM principal",
            "DataQuery": {
                "QueryStatement": f"SELECT {', '.join(COLUMNS)} FROM {TABLE}",
                "TableConfigurations": {TABLE: dict(TABLE_PROPERTIES)},
            },
            "DestinationConfigurations": {
                "S3Destination": {
                    "S3Bucket": bucket,
                    "S3Prefix": prefix,
                    "S3Region": region,
                    "S3OutputConfigurations": {
                        "OutputType": "CUSTOM",
                        "Format": "PARQUET",
                        "Compression": "PARQUET",
                        "Overwrite": "OVERWRITE_REPORT",
                    },
                }
            },
            "RefreshCadence": {"Frequency": "SYNCHRONOUS"},
        }
        with aws_call("bcm-data-exports", "CreateExport", name):
            answer = self.client.create_export(
                Export=export, ResourceTags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())]
            )
        return str(answer["ExportArn"])


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str
    modified: float


class CurFiles:
    """The data files of a CUR 2.0 export under an ``s3://`` URI."""

    def __init__(self, target: Target) -> None:
        self.client = target.client("s3")

    @requires("s3:ListBucket")
    def list(self, uri: str, suffixes: tuple[str, ...]) -> list[S3Object]:
        from aipctl.aws.s3logs import list_objects

        return [
            S3Object(o["Key"], int(o["Size"]), str(o.get("ETag", "")).strip('"'), o["LastModified"].timestamp())
            for o in list_objects(self.client, uri)
            if o["Key"].endswith(suffixes)
        ]

    @requires("s3:GetObject")
    def read(self, bucket: str, key: str) -> bytes:
        with aws_call("s3", "GetObject", f"s3://{bucket}/{key}"):
            return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())
