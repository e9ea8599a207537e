"""AWS Organizations adapter: the organization and its member accounts (``aipctl sim organization``).

Organizations answers in us-east-1. CreateAccount is asynchronous on AWS (a CreateAccountStatus to poll);
:meth:`Organizations.ensure_accounts` polls it. aipctl calls this only against the emulator: making real
accounts is not something a cost tool should do on the side.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aipctl._exceptions import AwsError, TargetError
from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import BILLING_REGION, Target

#: The role CreateAccount makes in a new member account, trusted by the management account (Organizations
#: user guide, "Accessing member accounts"; CreateAccount's RoleName default).
ACCESS_ROLE = "OrganizationAccountAccessRole"


class Organizations:
    def __init__(self, target: Target) -> None:
        self.client = target.client("organizations", BILLING_REGION)

    @requires("organizations:DescribeOrganization", "organizations:CreateOrganization")
    def ensure_organization(self) -> str:
        """The management account's id, creating the organization (all features) when there is none."""
        try:
            with aws_call("organizations", "DescribeOrganization"):
                return str(self.client.describe_organization()["Organization"]["MasterAccountId"])
        except AwsError as exc:
            if exc.code != "AWSOrganizationsNotInUseException":
                raise
        with aws_call("organizations", "CreateOrganization"):
            return str(self.client.create_organization(FeatureSet="ALL")["Organization"]["MasterAccountId"])

    @requires("organizations:ListAccounts")
    def accounts(self) -> dict[str, str]:
        """Account name -> id of every account of the organization."""
        out: dict[str, str] = {}
        kwargs: dict[str, Any] = {}
        while True:
            with aws_call("organizations", "ListAccounts"):
                page = self.client.list_accounts(**kwargs)
            out.update({a["Name"]: a["Id"] for a in page.get("Accounts", [])})
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    @requires("organizations:CreateAccount", "organizations:DescribeCreateAccountStatus")
    def ensure_accounts(
        self, names: Sequence[str], email_domain: str = "example.com", timeout_s: float = 120.0
    ) -> dict[str, str]:
        """Name -> id of each named member account, creating the missing ones (with :data:`ACCESS_ROLE`)."""
        have = self.accounts()
        out = {}
        for name in names:
            if name in have:
                out[name] = have[name]
                continue
            with aws_call("organizations", "CreateAccount", name):
                status = self.client.create_account(Email=f"{name}@{email_domain}", AccountName=name, RoleName=ACCESS_ROLE)
            status = status["CreateAccountStatus"]
            deadline = time.monotonic() + timeout_s
            while status["State"] == "IN_PROGRESS":
                if time.monotonic() > deadline:
                    raise TargetError(f"organizations:CreateAccount {name}: still IN_PROGRESS after {timeout_s:.0f} s")
                time.sleep(1.0)
                with aws_call("organizations", "DescribeCreateAccountStatus", name):
                    status = self.client.describe_create_account_status(CreateAccountRequestId=status["Id"])[
                        "CreateAccountStatus"
                    ]
            if status["State"] != "SUCCEEDED":
                raise TargetError(f"organizations:CreateAccount {name}: {status['State']}: {status.get('FailureReason', '')}")
            out[name] = str(status["AccountId"])
        return out
