"""The AWS Price List API (``pricing``): Bedrock's products, and the model names that map them onto model ids.

GetProducts pages by NextToken (at most 100 products a page); the API is served in us-east-1 for every
Region's prices ("Using the AWS Price List Query API", AWS Billing user guide).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target

#: The Price List API's endpoints are in us-east-1 (and ap-south-1, eu-central-1); us-east-1 has every Region's prices.
PRICING_REGION = "us-east-1"


class PriceList:
    def __init__(self, target: Target) -> None:
        self.client = target.client("pricing", PRICING_REGION)

    @requires("pricing:GetProducts")
    def products(self, service_code: str, filters: Mapping[str, str]) -> Iterator[list[str]]:
        """Pages of product JSON texts of ``service_code`` whose attributes equal ``filters``."""
        kwargs: dict[str, Any] = {
            "ServiceCode": service_code,
            "Filters": [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters.items()],
            "FormatVersion": "aws_v1",
            "MaxResults": 100,
        }
        while True:
            with aws_call("pricing", "GetProducts", service_code):
                page = self.client.get_products(**kwargs)
            yield list(page.get("PriceList", []))
            token = page.get("NextToken")
            if not token:
                return
            kwargs["NextToken"] = token


class FoundationModels:
    def __init__(self, target: Target) -> None:
        self.client = target.client("bedrock")

    @requires("bedrock:ListFoundationModels")
    def names(self) -> dict[str, str]:
        """Model id -> model name of the Region's foundation models."""
        with aws_call("bedrock", "ListFoundationModels"):
            summaries = self.client.list_foundation_models().get("modelSummaries", [])
        return {s["modelId"]: s.get("modelName", s["modelId"]) for s in summaries}
