"""The HTML dashboard in headless Chromium at 1280, 1600 and 1920 px: every chart inside the viewport, every
day of the period on the trend axis, legends, budget vs forecast, the tier view, bypassers flagged with their
principal-priced cost, no console errors. Screenshots are kept in ``artifacts/``."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from aipctl.aws.simctl import SimControl
from aipctl.aws.target import Target, _sim_session
from aipctl.inventory import parse_inventory
from aipctl.plan import apply_plan, make_plan
from aipctl.simulate.traffic import ensure_workload_roles, run_traffic
from tests.conftest import REGION, ROOT, run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "artifacts"
DAYS = 10
TIERS = {"enterprise": 400, "pro": 120, "free": 20}
CALLERS = [f"app{i:02d}" for i in range(1, 13)]  # 12: past the 8 a pie can carry
BYPASSER = "app05"

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not __import__("os").environ.get("CI"), reason="Debian chromium not installed (CI installs it)"
)


def _inventory() -> str:
    lines = [
        "name: dash",
        "region: eu-central-1",
        "models:",
        "  haiku: eu.anthropic.claude-haiku-4-5-20251001-v1:0",
        "tiers:",
        *(f"  {t}: {{weight: 2, budget: {{monthly_usd: {usd}, alert_at: [80, 100]}}}}" for t, usd in TIERS.items()),
        "callers:",
    ]
    for index, name in enumerate(CALLERS):
        tier = list(TIERS)[index % 3]
        lines += [
            f"  {name}:",
            f"    owner: team-{index % 4}",
            "    environment: production",
            "    models: [haiku]",
            f'    identities: ["arn:aws:iam::*:role/{name}-task"]',
            f"    tier: {tier}",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def dashboard(emulator: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sim = SimControl(emulator)
    sim.reset()
    now = dt.datetime.fromisoformat(sim.clock()["now"])
    sim.advance(86400 - (now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6) + 7200)  # 02:00
    sim.set_settings(cloudtrail_lookup_rps=0)
    workdir = tmp_path_factory.mktemp("dashboard")
    (workdir / "aipctl.yaml").write_text(_inventory())
    loaded = parse_inventory(_inventory(), "aipctl.yaml")
    target = Target("sim", _sim_session(), REGION, endpoint_url=emulator)
    ensure_workload_roles(loaded, target)  # the workloads exist before aipctl: their principals get tagged
    apply_plan(make_plan(loaded, target), target)
    run_traffic(loaded, target, days=DAYS, seed=11, calls_per_day=6, bypass=[BYPASSER])
    page = workdir / "aipctl-report.html"
    result = run_cli(
        "report",
        "-f",
        str(workdir / "aipctl.yaml"),
        "--since",
        f"{DAYS}d",
        "--html",
        str(page),
        "--coverage",
        "--advise",
        "--json",
        endpoint=emulator,
    )
    assert result.code == 0, result.err
    return {"page": page, "report": json.loads(result.out), "dir": workdir}


def _period(report: dict[str, Any]) -> list[str]:
    start, end = (dt.date.fromisoformat(report["period"][k]) for k in ("start", "end"))
    return [(start + dt.timedelta(days=i)).strftime("%b %d") for i in range((end - start).days)]


def test_report_json_carries_forecast_movers_and_bypassers(dashboard: dict[str, Any]) -> None:
    report = dashboard["report"]
    rows = {r["caller"]: r for r in report["callers"] if r["tenant"] is None}
    assert {r["budget_usd"] for r in rows.values()} == set(TIERS.values()), "budgets come from the tiers"
    today = dt.date.fromisoformat(report["period"]["end"]) - dt.timedelta(days=1)
    for name, forecast in report["forecast"].items():
        assert forecast["month"] == today.strftime("%Y-%m")
        assert forecast["forecast_usd"] >= forecast["mtd_usd"] >= 0
        if forecast["budget_usd"]:
            expected = round(forecast["forecast_usd"] / forecast["budget_usd"] * 100, 1)
            assert forecast["forecast_pct_of_budget"] == pytest.approx(expected, abs=0.11), name
    assert [b["caller"] for b in report["bypassers"]] == [BYPASSER]
    assert report["bypassers"][0]["outside_aips_usd"] > 0, "the bypasser is priced on the principal plane"
    assert len(report["movers"]) == 5
    assert {g["value"] for g in report["groups"]} == set()  # no --by: no groups, but the page has a tier view


@needs_chromium
@pytest.mark.parametrize("width", [1280, 1600, 1920])
def test_dashboard_fits_every_width(width: int, dashboard: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    html = dashboard["page"].read_text()
    assert '<script src="http' not in html and "plotly" in html, "plotly.js is inlined: works offline"
    days = _period(dashboard["report"])
    errors: list[str] = []
    shot = ARTIFACTS / f"aipctl-report-{width}.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": width, "height": 1000})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.route("http*://**", lambda route: route.abort())  # offline: any network fetch fails
        page.goto(Path(dashboard["page"]).as_uri())
        page.wait_for_selector("#chart-latency .main-svg", timeout=30_000)
        page.wait_for_timeout(300)  # plotly's responsive resize settles
        geometry = page.evaluate(
            """() => [...document.querySelectorAll('.js-plotly-plot')].map(plot => {
                const box = plot.getBoundingClientRect();
                const svg = plot.querySelector('.main-svg').getBoundingClientRect();
                return {id: plot.id, left: box.left, right: box.right, svgRight: svg.right,
                        section: plot.closest('section').getBoundingClientRect().right,
                        legend: plot.querySelectorAll('.legend .traces').length};
            })"""
        )
        ticks = page.evaluate("() => [...document.querySelectorAll('#chart-trend .xtick text')].map(t => t.textContent)")
        trend_x = page.evaluate("() => document.getElementById('chart-trend').data.map(t => t.x.length)")
        share_slices = page.locator("#chart-share .slice").count()
        share_bars = page.locator("#chart-share .bars .point").count()
        flags = page.locator("#callers .flag").all_inner_texts()
        flagged_rows = page.locator("#callers tr.bypass td:first-child").all_inner_texts()
        tier_rows = page.locator("#tiers tbody tr").count()
        advice_rows = page.locator("#advice tbody tr").all_inner_texts()
        scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert errors == []
    ids = [g["id"] for g in geometry]
    assert ids == ["chart-trend", "chart-budget", "chart-share", "chart-movers", "chart-tiers", "chart-tokens", "chart-latency"]
    for chart in geometry:
        assert chart["left"] >= 0 and chart["right"] <= width, f"{chart['id']} leaves the viewport at {width} px"
        assert chart["svgRight"] <= chart["section"] + 1, f"{chart['id']} is clipped by its panel at {width} px"
        assert chart["legend"] >= 1, f"{chart['id']} has no legend"
    assert scroll_width <= width, "nothing scrolls sideways"
    assert ticks == days, "every day of the period is on the trend axis"
    assert set(trend_x) == {len(days)}
    assert share_slices == 0 and share_bars == 12 + 1, "12 callers: a sorted bar (and the untagged rest), not a pie"
    assert len(flags) == 1 and flags[0].startswith("bypass: $") and not flags[0].startswith("bypass: $0.0000")
    assert flagged_rows and flagged_rows[0].startswith(BYPASSER)
    assert tier_rows == 3
    advice = dashboard["report"]["advice"]
    assert advice, "the busiest callers' eu. route costs more than global.: routing advice"
    assert {a["kind"] for a in advice} <= {"routing", "right-size", "cache", "batch", "flex", "budget", "idle", "wire"}
    assert [a["caller"] for a in advice if a["kind"] == "wire"] == [BYPASSER], "--coverage: the bypasser is told to wire"
    assert len(advice_rows) == len(advice) and all(
        row.split()[0] == a["kind"] for row, a in zip(advice_rows, advice, strict=True)
    )
    assert shot.stat().st_size > 20_000
