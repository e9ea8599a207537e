"""Priority tiers under a throttled shared quota (emulator fault injection), and `aipctl bench guard`."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.guard import _World, fairness
from tests.conftest import run_aipctl


def test_higher_tiers_keep_their_share_when_bedrock_throttles(sim, emulator: str, tmp_path: Path) -> None:
    world = _World(tmp_path, endpoint_url=emulator)
    try:
        result = fairness(world, seconds=9.0, rate=25.0, threads_per_tenant=3)
    finally:
        world.stop()
    base, tiered = result["baseline_share"], result["tiered_share"]
    assert tiered["gold"] > base["gold"] + 0.08, result
    assert tiered["bronze"] < base["bronze"] - 0.05, result
    assert tiered["gold"] > tiered["silver"] > tiered["bronze"], result
    assert result["tiered_successes_per_s"] > 0.8 * result["baseline_successes_per_s"], "tiers do not waste the quota"


def test_bench_guard_overhead_keys(workdir: Path) -> None:
    done = run_aipctl("bench", "guard", "--only", "overhead", "--iterations", "3000", "--json", cwd=workdir)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["inprocess_us_per_call"] > 0 and data["redis_us_per_call"] > 0
    assert data["routing_us_per_call"] <= data["inprocess_us_per_call"]
