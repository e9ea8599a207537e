"""Organizations: ``aipctl plan`` for N callers spread over A accounts × R Regions, in its own process.

The emulator serves in a process of its own (``aipctl sim serve``), with an organization of A accounts (the
management account and A-1 members made by ``CreateAccount``, each reachable through its access role). The
callers are dealt round-robin over the accounts and Regions, one model each, so every account × Region holds
N/(A×R) of them.

Measured: plan from scratch (nothing exists) at 1, 2, 5 and A accounts — how it scales with the accounts — and
the plan of the converged organization (after apply: every placement lists and reads the tags of its AIPs).
Baseline, in the same run: the same N callers in today's format (one account, one Region), from scratch.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.foundation import _aipctl, _Served

REGIONS = ("eu-central-1", "us-east-1")
ROLE = "OrganizationAccountAccessRole"


def _organization(url: str, accounts: int) -> list[str]:
    import boto3

    from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY

    org = boto3.client(
        "organizations",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=SIM_ACCESS_KEY,
        aws_secret_access_key=SIM_SECRET_KEY,
    )
    try:
        management = org.create_organization(FeatureSet="ALL")["Organization"]["MasterAccountId"]
    except org.exceptions.AlreadyInOrganizationException:
        management = org.describe_organization()["Organization"]["MasterAccountId"]
    ids = [management] + [a["Id"] for a in org.list_accounts()["Accounts"] if a["Id"] != management]
    while len(ids) < accounts:
        made = org.create_account(Email=f"member{len(ids)}@example.com", AccountName=f"member{len(ids)}")
        ids.append(made["CreateAccountStatus"]["AccountId"])
    return ids[:accounts]


def inventory_text(callers: int, ids: list[str] | None, regions: tuple[str, ...] = REGIONS) -> str:
    lines = ["name: bench", "region: eu-central-1", "models:", "  sonnet: eu.anthropic.claude-sonnet-4-6"]
    if ids:
        lines.append("accounts:")
        for i, account in enumerate(ids):
            role = "" if i == 0 else f", role: {ROLE}"
            billing = ", billing: true" if i == 0 else ""
            lines.append(f'  a{i:02d}: {{id: "{account}"{role}{billing}, regions: [{", ".join(regions)}]}}')
    lines.append("callers:")
    for i in range(callers):
        lines += [f"  caller-{i:05d}:", "    owner: team-a", "    environment: production", "    models: [sonnet]"]
        if ids:
            lines += [f"    account: a{i % len(ids):02d}", f"    region: {regions[(i // len(ids)) % len(regions)]}"]
    return "\n".join(lines) + "\n"


def _plan(url: str, work: Path, text: str) -> tuple[float, dict[str, Any]]:
    import json

    (work / "aipctl.yaml").write_text(text)
    seconds, done = _aipctl("--endpoint-url", url, "plan", "--json", cwd=work)
    if done.returncode != 0:
        raise RuntimeError(f"plan failed: {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)


def run(callers: int = 10_000, accounts: int = 10, progress: Any = None) -> dict[str, Any]:
    say = progress or (lambda *_: None)
    with tempfile.TemporaryDirectory(prefix="aipctl-bench-org-") as tmp:
        work = Path(tmp)
        served = _Served(work / "state")
        try:
            served.control().set_quotas({"application-inference-profiles": callers * 2})  # the baseline's one account
            say("baseline: one account, one Region")
            base_s, base = _plan(served.url, work, inventory_text(callers, None))
            assert base["summary"]["create"] == callers
            ids = _organization(served.url, accounts)
            scaling = []
            for count in sorted({1, 2, 5, accounts} & set(range(1, accounts + 1))):
                say(f"plan from scratch: {count} account(s) × {len(REGIONS)} Regions")
                seconds, plan = _plan(served.url, work, inventory_text(callers, ids[:count]))
                assert plan["summary"]["create"] == callers and not plan["failed"], plan["failed"]
                scaling.append(
                    {
                        "accounts": count,
                        "placements": plan["placements"],
                        "seconds": round(seconds, 2),
                        "ratio": round(seconds / base_s, 2),
                    }
                )
            say(f"apply: {callers} AIPs over {accounts} accounts × {len(REGIONS)} Regions")
            started = time.perf_counter()
            applied = _aipctl("--endpoint-url", served.url, "apply", "--yes", "--parallel", "4", cwd=work)[1]
            apply_s = time.perf_counter() - started
            if applied.returncode != 0:
                raise RuntimeError(f"apply failed: {applied.stderr[-2000:]}")
            say("plan converged")
            converged_s, converged = _plan(served.url, work, inventory_text(callers, ids))
            assert converged["summary"]["no-op"] == callers and not converged["has_changes"]
        finally:
            served.stop()
    return {
        "callers": callers,
        "accounts": accounts,
        "regions": list(REGIONS),
        "baseline_one_account_plan_s": round(base_s, 2),
        "plan_from_scratch": scaling,
        "apply_s": round(apply_s, 2),
        "plan_converged_s": round(converged_s, 2),
        "plan_converged_ratio": round(converged_s / base_s, 2),
        "target_s": 10.0,
        "met": converged_s <= 10.0 and all(s["seconds"] <= 10.0 for s in scaling),
    }
