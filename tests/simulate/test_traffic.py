"""The traffic generator: reproducible, per-caller identities, a heavy hitter and a bypasser."""

from __future__ import annotations

import json

from aipctl.inventory import example_inventory, parse_inventory
from aipctl.plan import apply_plan, make_plan
from aipctl.simulate.traffic import diurnal, run_traffic

LOADED = parse_inventory(example_inventory(), "aipctl.yaml")


def _fresh_run(target, sim, seed: int) -> dict:
    import datetime as dt

    sim.reset()
    now = dt.datetime.fromisoformat(sim.clock()["now"])
    sim.advance(86400 - (now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6))  # start at midnight
    apply_plan(make_plan(LOADED, target), target)
    report = run_traffic(LOADED, target, days=0.5, seed=seed, calls_per_day=40)
    out = report.to_dict()
    out.pop("start"), out.pop("end")
    return out


def test_same_seed_same_traffic(target, sim) -> None:
    first = _fresh_run(target, sim, seed=11)
    again = _fresh_run(target, sim, seed=11)
    other = _fresh_run(target, sim, seed=12)
    assert first == again
    assert first != other
    assert first["hours"] == 12


def test_identities_bypass_and_heavy_hitter_are_visible_in_cloudtrail(target, sim, session, emulator) -> None:
    result = _fresh_run(target, sim, seed=3)
    callers = result["callers"]
    assert result["bypass_caller"] == "receptionist"
    assert max(callers, key=lambda c: callers[c]["calls"]) == "open-webui", "the first caller is the heavy hitter"
    assert sum(c["errors"] for c in callers.values()) == 0
    trail = session.client("cloudtrail", endpoint_url=emulator)
    sim.set_settings(cloudtrail_lookup_rps=0)
    events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "receptionist"}])["Events"]
    assert events, "the bypasser's calls are attributed to its own session"
    details = [json.loads(e["CloudTrailEvent"]) for e in events]
    assert {d["requestParameters"]["modelId"] for d in details} == {
        "arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0"
    }
    assert details[0]["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"] == "receptionist-voice"
    webui = trail.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "open-webui"}])["Events"]
    assert all(
        ":application-inference-profile/" in json.loads(e["CloudTrailEvent"])["requestParameters"]["modelId"] for e in webui
    )


def test_the_day_has_a_shape() -> None:
    assert diurnal(3) == 0.15 and diurnal(13) > 0.95 and diurnal(9) < diurnal(12)
