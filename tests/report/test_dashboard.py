"""The HTML dashboard in headless Chromium: it renders, the charts are there, no console errors."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "artifacts"


@pytest.mark.skipif(
    CHROMIUM is None and not __import__("os").environ.get("CI"), reason="Debian chromium not installed (CI installs it)"
)
def test_dashboard_renders_offline_without_console_errors(report_cli, traffic) -> None:
    from playwright.sync_api import sync_playwright

    page_file = traffic["dir"] / "aipctl-report.html"
    assert report_cli("report", "--since", "4d", "--html", str(page_file), "--coverage").code == 0
    html = page_file.read_text()
    assert '<script src="http' not in html and "plotly" in html, "plotly.js is inlined: works offline"
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.route("http*://**", lambda route: route.abort())  # offline: any network fetch fails
        page.goto(page_file.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        charts = page.locator(".js-plotly-plot").count()
        rows = page.locator("#callers tbody tr").count()
        bypass = page.locator("#callers .bad").all_inner_texts()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "aipctl-report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert charts == 5
    assert rows == 6
    assert bypass == ["0% (bypassing)"]
    assert (ARTIFACTS / "aipctl-report.png").stat().st_size > 10_000
