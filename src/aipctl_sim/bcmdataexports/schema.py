"""The CUR 2.0 table as the emulator delivers it: Amazon Bedrock's line items, named as the data dictionary names them.

Column names and meanings follow the CUR 2.0 data dictionary (AWS Data Exports user guide,
"table-dictionary-cur2"); ``line_item_resource_id`` comes with ``INCLUDE_RESOURCES``, and
``line_item_iam_principal`` (the calling IAM principal, since 2026) with ``INCLUDE_IAM_PRINCIPAL_DATA``.
What the emulator chose where the dictionary is silent is in docs/decisions.md ("CUR 2.0 in the emulator").
"""

from __future__ import annotations

from collections.abc import Mapping

TABLE = "COST_AND_USAGE_REPORT"
#: property -> (default, valid values; empty: free text)
TABLE_PROPERTIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "TIME_GRANULARITY": ("HOURLY", ("HOURLY", "DAILY", "MONTHLY")),
    "INCLUDE_RESOURCES": ("FALSE", ("TRUE", "FALSE")),
    "INCLUDE_MANUAL_DISCOUNT_COMPATIBILITY": ("FALSE", ("TRUE", "FALSE")),
    "INCLUDE_SPLIT_COST_ALLOCATION_DATA": ("FALSE", ("TRUE", "FALSE")),
    "INCLUDE_IAM_PRINCIPAL_DATA": ("FALSE", ("TRUE", "FALSE")),
    "BILLING_VIEW_ARN": ("", ()),
}
MAP = "MAP(VARCHAR, VARCHAR)"
#: Every column, in delivery order, with its DuckDB type (Parquet's follow from them).
COLUMNS: dict[str, str] = {
    "identity_line_item_id": "VARCHAR",
    "identity_time_interval": "VARCHAR",
    "bill_bill_type": "VARCHAR",
    "bill_billing_entity": "VARCHAR",
    "bill_billing_period_end_date": "TIMESTAMP",
    "bill_billing_period_start_date": "TIMESTAMP",
    "bill_invoicing_entity": "VARCHAR",
    "bill_payer_account_id": "VARCHAR",
    "line_item_blended_cost": "DOUBLE",
    "line_item_currency_code": "VARCHAR",
    "line_item_iam_principal": "VARCHAR",
    "line_item_line_item_description": "VARCHAR",
    "line_item_line_item_type": "VARCHAR",
    "line_item_net_unblended_cost": "DOUBLE",
    "line_item_operation": "VARCHAR",
    "line_item_product_code": "VARCHAR",
    "line_item_resource_id": "VARCHAR",
    "line_item_unblended_cost": "DOUBLE",
    "line_item_unblended_rate": "VARCHAR",
    "line_item_usage_account_id": "VARCHAR",
    "line_item_usage_amount": "DOUBLE",
    "line_item_usage_end_date": "TIMESTAMP",
    "line_item_usage_start_date": "TIMESTAMP",
    "line_item_usage_type": "VARCHAR",
    "pricing_unit": "VARCHAR",
    "product": MAP,
    "product_region_code": "VARCHAR",
    "product_servicecode": "VARCHAR",
    "resource_tags": MAP,
    "tags": MAP,
}
#: Columns only in the table when a property is TRUE.
OPTIONAL = {"line_item_resource_id": "INCLUDE_RESOURCES", "line_item_iam_principal": "INCLUDE_IAM_PRINCIPAL_DATA"}


def columns_of(properties: Mapping[str, str]) -> dict[str, str]:
    """The table's columns under these table properties."""
    return {
        name: kind
        for name, kind in COLUMNS.items()
        if name not in OPTIONAL or str(properties.get(OPTIONAL[name], "FALSE")).upper() == "TRUE"
    }
