"""verify's second source and report warnings; these tests reset the emulator, so they live apart."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import traffic_with_logs


def test_verify_from_invocation_logs_agrees_with_cloudtrail(cli, target, sim, session, emulator, workdir: Path) -> None:
    traffic_with_logs(
        target, session, emulator, workdir, bucket="inv-logs", prefix="bedrock", days=0.25, seed=2, calls_per_day=60
    )
    sim.set_settings(cloudtrail_lookup_rps=0)
    trail = cli("verify", "--since", "1d", "--json").json
    assert trail["sources"] == ["cloudtrail"] and set(trail["period"]) == {"start", "end"}
    from_trail = {r["caller"]: r for r in trail["callers"]}
    from_logs = {
        r["caller"]: r
        for r in cli("verify", "--since", "1d", "--json", "--source", "logs", "--logs", "s3://inv-logs/bedrock").json["callers"]
    }
    both = {
        r["caller"]: r
        for r in cli("verify", "--since", "1d", "--json", "--source", "both", "--logs", "s3://inv-logs/bedrock").json["callers"]
    }
    for caller, row in from_trail.items():
        assert (from_logs[caller]["aip_calls"], from_logs[caller]["bypass_calls"]) == (row["aip_calls"], row["bypass_calls"]), (
            caller
        )
        assert (both[caller]["aip_calls"], both[caller]["bypass_calls"]) == (row["aip_calls"], row["bypass_calls"]), (
            "deduplicated"
        )


def test_warns_when_the_caller_tag_is_not_active(cli, target, sim, workdir: Path) -> None:
    from aipctl.inventory import example_inventory

    (workdir / "aipctl.yaml").write_text(example_inventory())
    assert cli("apply", "--yes", "--skip-cost-tags").code == 0
    result = cli("report", "--since", "3d")
    assert "cost-allocation tag Application is Inactive" in result.err
