"""`aipctl report --by tier|owner|environment|<tag>`: totals per value, equal to the sum of their callers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inventory.test_tiers import TIERED

MESSAGES = [{"role": "user", "content": [{"text": "What did our enterprise tier cost this week?"}]}]


@pytest.mark.parametrize("by", ["tier", "owner", "environment"])
def test_report_rolls_callers_up(by: str, cli, sim, session, emulator: str, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(TIERED)
    assert cli("apply", "--yes").code == 0
    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    arns = {r["caller"]: r["arn"] for r in cli("list", "--json").json}
    for caller, calls in (("acme", 3), ("globex", 2), ("hobbyist", 1)):
        for _ in range(calls):
            runtime.converse(modelId=arns[caller], messages=MESSAGES)
    sim.advance(2 * 86400)
    report = cli("report", "--since", "3d", "--by", by, "--json")
    assert report.code == 0, report.err
    body = report.json
    rows = {r["caller"]: r for r in body["callers"] if r["tenant"] is None}
    groups = {g["value"]: g for g in body["groups"]}
    expected = {
        "tier": {"enterprise": ["acme", "globex"], "free": ["hobbyist"]},
        "owner": {"acme-inc": ["acme"], "globex-corp": ["globex"], "someone": ["hobbyist"]},
        "environment": {"production": ["acme", "globex", "hobbyist"]},
    }[by]
    assert {v: g["callers"] for v, g in groups.items()} == expected
    for value, members in expected.items():
        assert groups[value]["by"] == by
        assert groups[value]["billed_usd"] == pytest.approx(sum(rows[c]["billed_usd"] for c in members), abs=1e-6)
    assert groups[next(iter(expected))]["billed_usd"] > 0
    text = cli("report", "--since", "3d", "--by", by)
    assert text.code == 0 and f"by {by}" in text.out
    assert cli("report", "--since", "3d", "--by", by, "--markdown", "costs.md").code == 0
    table = [line for line in (workdir / "costs.md").read_text().splitlines() if line.startswith("| ")]
    for value, group in groups.items():  # the markdown block carries the same totals
        row = next(line for line in table if line.startswith(f"| {value} |"))
        assert f"${group['billed_usd']:,.4f}" in row or f"${group['billed_usd']:,.2f}" in row, row
