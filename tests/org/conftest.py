"""An AWS Organization on the emulator: the management account (aipctl's credentials) and four members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY

REGIONS = ("eu-central-1", "us-east-1")
MEMBERS = ("prod", "staging", "team-a", "team-b")
ACCESS_ROLE = "OrganizationAccountAccessRole"


@dataclass
class Org:
    endpoint: str
    management: str
    ids: dict[str, str]  # alias -> account id (members and "payer")

    def session(self, alias: str) -> Any:
        """A session in the account, as its access role (the management account: aipctl's own credentials)."""
        base = boto3.Session(aws_access_key_id=SIM_ACCESS_KEY, aws_secret_access_key=SIM_SECRET_KEY)
        if alias == "payer":
            return base
        sts = base.client("sts", endpoint_url=self.endpoint, region_name=REGIONS[0])
        role = f"arn:aws:iam::{self.ids[alias]}:role/{ACCESS_ROLE}"
        creds = sts.assume_role(RoleArn=role, RoleSessionName="test")["Credentials"]
        return boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )

    def client(self, alias: str, service: str, region: str = REGIONS[0]) -> Any:
        return self.session(alias).client(service, endpoint_url=self.endpoint, region_name=region)

    def inventory(self, callers: str, *, extra_accounts: str = "") -> str:
        accounts = [f'  payer: {{id: "{self.management}", billing: true, regions: [{", ".join(REGIONS)}]}}']
        accounts += [
            f'  {alias}: {{id: "{self.ids[alias]}", role: {ACCESS_ROLE}, regions: [{", ".join(REGIONS)}]}}' for alias in MEMBERS
        ]
        return (
            "name: org\nregion: eu-central-1\nmodels:\n  sonnet: eu.anthropic.claude-sonnet-4-6\n  nova: amazon.nova-pro-v1:0\n"
            "accounts:\n" + "\n".join(accounts) + "\n" + extra_accounts + "callers:\n" + callers
        )


@pytest.fixture
def org(sim: Any, emulator: str) -> Org:
    """Five accounts (the management account and four created through Organizations), two Regions each."""
    base = boto3.Session(aws_access_key_id=SIM_ACCESS_KEY, aws_secret_access_key=SIM_SECRET_KEY)
    organizations = base.client("organizations", endpoint_url=emulator, region_name="us-east-1")
    management = organizations.create_organization(FeatureSet="ALL")["Organization"]["MasterAccountId"]
    ids = {"payer": management}
    for alias in MEMBERS:
        status = organizations.create_account(Email=f"{alias}@example.com", AccountName=alias)["CreateAccountStatus"]
        ids[alias] = status["AccountId"]
    return Org(emulator, management, ids)
