"""1.5 days of traffic in the test emulator, made once per module and shared by its tests.

Tests here must not reset the emulator (the ``cli`` fixture does): they use ``report_cli``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from aipctl.aws.simctl import SimControl
from aipctl.aws.target import Target, _sim_session
from aipctl.inventory import example_inventory, parse_inventory
from aipctl.plan import apply_plan, make_plan
from aipctl.simulate.traffic import run_traffic
from tests.conftest import REGION, run_cli


@pytest.fixture(scope="module")
def traffic(emulator: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sim = SimControl(emulator)
    sim.reset()
    now = dt.datetime.fromisoformat(sim.clock()["now"])
    sim.advance(86400 - (now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6))  # start at midnight
    sim.set_settings(cloudtrail_lookup_rps=0)  # speed: the limiter itself is tested in tests/sim/test_cloudtrail.py
    workdir = tmp_path_factory.mktemp("report")
    (workdir / "aipctl.yaml").write_text(example_inventory())
    loaded = parse_inventory(example_inventory(), "aipctl.yaml")
    target = Target("sim", _sim_session(), REGION, endpoint_url=emulator)
    apply_plan(make_plan(loaded, target), target)
    report = run_traffic(loaded, target, days=1.5, seed=5, calls_per_day=30)
    sim.advance(86400 + 3600)
    return {"loaded": loaded, "traffic": report, "dir": workdir, "sim": sim}


@pytest.fixture(autouse=True)
def fast_cloudtrail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIPCTL_CLOUDTRAIL_RPS", "0")  # the emulator's limit is off here too


@pytest.fixture
def report_cli(traffic: dict[str, Any], emulator: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(traffic["dir"])

    def invoke(*args: str) -> Any:
        return run_cli(*args, endpoint=emulator)

    return invoke
