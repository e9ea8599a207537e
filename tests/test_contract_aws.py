"""Contract tests of the AWS-facing adapters.

They run against the emulator by default. With AIPCTL_TEST_AWS_PROFILE set (and optionally
AIPCTL_TEST_AWS_REGION, default us-east-1) they run against that real account: they create one
AIP named aipctl-contract-<random> from the cheapest system profile and delete it again.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from aipctl._exceptions import AwsError
from aipctl.aws.bedrock import BedrockControl
from aipctl.aws.ce import CostAllocationTags
from aipctl.aws.target import Target, open_target

pytestmark = pytest.mark.aws
REAL_PROFILE = os.environ.get("AIPCTL_TEST_AWS_PROFILE")


@pytest.fixture
def contract_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if REAL_PROFILE:
        with open_target("aws", region=os.environ.get("AIPCTL_TEST_AWS_REGION", "us-east-1"), profile=REAL_PROFILE) as target:
            yield target
    else:
        yield request.getfixturevalue("target")


def _cheapest_source(bedrock: BedrockControl, target: Target) -> str:
    ids = sorted(bedrock.system_profile_ids())
    preferred = [i for i in ids if "nova-micro" in i] or [i for i in ids if "haiku" in i] or ids
    return f"arn:aws:bedrock:{target.region}:{target.account}:inference-profile/{preferred[0]}"


def test_profile_lifecycle_and_tags(contract_target: Target) -> None:
    bedrock = BedrockControl(contract_target)
    name = f"aipctl-contract-{uuid.uuid4().hex[:8]}"
    arn = bedrock.create_profile(
        name,
        _cheapest_source(bedrock, contract_target),
        "aipctl contract test",
        {"aipctl:managed": "contract", "Application": "contract"},
        uuid.uuid4().hex,
    )
    try:
        listed = {p.name: p for p in bedrock.list_application_profiles()}
        assert listed[name].arn == arn and listed[name].models
        bedrock.tag(arn, {"Owner": "contract"})
        bedrock.untag(arn, ["Application"])
        assert bedrock.tags_of(arn) == {"aipctl:managed": "contract", "Owner": "contract"}
        assert bedrock.get_profile(arn)["type"] == "APPLICATION"
    finally:
        bedrock.delete_profile(arn)
    assert name not in {p.name for p in bedrock.list_application_profiles()}


def test_errors_are_mapped_to_aws_error_codes(contract_target: Target) -> None:
    bedrock = BedrockControl(contract_target)
    missing = f"arn:aws:bedrock:{contract_target.region}:{contract_target.account}:application-inference-profile/zzzzzzzzzzzz"
    with pytest.raises(AwsError) as exc:
        bedrock.get_profile(missing)
    assert exc.value.code in ("ResourceNotFoundException", "ValidationException")
    assert exc.value.operation == "GetInferenceProfile"


def test_foundation_models_and_cost_tags_are_readable(contract_target: Target) -> None:
    assert BedrockControl(contract_target).foundation_model_ids()
    statuses = CostAllocationTags(contract_target).status(["Application"])
    assert statuses[0].status in ("Active", "Inactive", "NotFound")


def test_guard_resources_are_readable_and_a_budget_round_trips(contract_target: Target) -> None:
    """Budgets, alarms and IAM reads of the guards; one budget created, updated and deleted."""
    from aipctl.aws.budgets import Budgets
    from aipctl.aws.cloudwatch import Alarms
    from aipctl.aws.iam import Iam

    prefix = f"aipctl-contract-{uuid.uuid4().hex[:8]}-"
    assert Alarms(contract_target).managed(prefix) == {}
    assert isinstance(Iam(contract_target).principals_matching(["arn:aws:iam::*:role/aipctl-contract-nobody"]), list)
    budgets = Budgets(contract_target)
    name = prefix + "caller"
    budget = {
        "BudgetName": name,
        "BudgetLimit": {"Amount": "1.00", "Unit": "USD"},
        "CostFilters": {"TagKeyValue": ["user:Application$aipctl-contract"]},
        "TimeUnit": "MONTHLY",
        "BudgetType": "COST",
    }
    budgets.put(budget, [], None)
    try:
        live = budgets.managed(prefix)
        assert float(live[name]["budget"]["BudgetLimit"]["Amount"]) == 1.0
        budgets.put({**budget, "BudgetLimit": {"Amount": "2.00", "Unit": "USD"}}, [], live[name])
        assert float(budgets.managed(prefix)[name]["budget"]["BudgetLimit"]["Amount"]) == 2.0
    finally:
        budgets.delete(name)
    assert budgets.managed(prefix) == {}
