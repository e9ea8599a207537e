"""Report outputs: CSV, a markdown block kept up to date in a file, and an HTML dashboard."""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path
from typing import Any

from aipctl.report import CostReport

BEGIN, END = "<!-- aipctl:report:begin -->", "<!-- aipctl:report:end -->"
CSV_FIELDS = (
    "caller",
    "billed_usd",
    "estimated_usd",
    "metered_usd",
    "deviation",
    "invocations",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "throttles",
    "errors",
    "p50_ms",
    "p90_ms",
    "p99_ms",
)


def to_csv(report: CostReport) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in report.to_dict()["callers"]:
        latency = row.pop("latency_ms")
        writer.writerow({k: row.get(k) for k in CSV_FIELDS} | {f"{s}_ms": latency.get(s) for s in ("p50", "p90", "p99")})
    writer.writerow({"caller": "(untagged)", "billed_usd": report.to_dict()["untagged_usd"]})
    return buffer.getvalue()


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:,.4f}"


def markdown_block(report: CostReport, top: int) -> str:
    data = report.to_dict()
    total = data["total_billed_usd"]
    lines = [
        BEGIN,
        f"### Bedrock cost per caller, {data['period']['start']} to {data['period']['end']} (exclusive)",
        "",
        f"Top {top} by billed cost (Cost Explorer, tag `{'Application'}`; complete until {data['period']['complete_until']}):",
        "",
        "| # | caller | billed | share | estimated | deviation | invocations | tokens in / out |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for rank, row in enumerate(report.to_dict(top)["callers"], 1):
        share = f"{row['billed_usd'] / total:.0%}" if total else "–"
        deviation = "–" if row["deviation"] is None else f"{row['deviation']:+.1%}"
        lines.append(
            f"| {rank} | {row['caller']} | {_usd(row['billed_usd'])} | {share} | {_usd(row['estimated_usd'])} | "
            f"{deviation} | {row['invocations']:,} | {row['input_tokens']:,} / {row['output_tokens']:,} |"
        )
    lines += ["", f"Untagged remainder: {_usd(data['untagged_usd'])} ({data['untagged_share']:.0%} of {_usd(total)} billed)."]
    for caller, brake in sorted(data["brakes"].items()):
        lines.append(f"Braked: {caller} since {brake['at']} ({brake['reason']}).")
    if data["ledger"]:
        lines.append(f"Metered per request (ledger): {_usd(data['total_metered_usd'])}, up to the last ingested log.")
    if report.coverage:
        bypassing = [c for c, v in sorted(report.coverage.items()) if v.get("verdict") == "bypassing"]
        if bypassing:
            lines.append(f"Still bypassing their AIP: {', '.join(bypassing)}.")
    lines += ["", "_Maintained by `aipctl report --markdown`; edits inside this block are replaced._", END]
    return "\n".join(lines)


def update_markdown(path: Path, report: CostReport, top: int) -> bool:
    """Replace the marked block (or append it); the rest of the file is untouched. True if changed."""
    block = markdown_block(report, top)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
        new = pattern.sub(lambda _m: block, text, count=1) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        new = "# Caller inventory\n\n" + block + "\n"
        text = ""
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def html_dashboard(report: CostReport, target_info: dict[str, str], top: int) -> str:
    """A self-contained page (plotly.js inlined once): works offline."""
    import plotly.graph_objects as go

    data = report.to_dict()
    callers = [c for c in data["callers"]]
    names = [c["caller"] for c in callers]
    days = sorted({d for c in callers for d in (*c["billed_by_day"], *c["estimated_by_day"])})
    figures: list[tuple[str, Any]] = []

    per_day = go.Figure()
    for c in callers:
        per_day.add_bar(name=c["caller"], x=days, y=[c["billed_by_day"].get(d, 0.0) for d in days])
    per_day.add_bar(name="(untagged)", x=days[:1], y=[data["untagged_usd"]], visible="legendonly")
    per_day.update_layout(barmode="stack", title="Billed cost per caller per day (USD, Cost Explorer)", height=380)
    figures.append(("per-day", per_day))

    share = go.Figure(
        go.Pie(
            labels=[*names, "(untagged)"],
            values=[*(c["billed_usd"] for c in callers), data["untagged_usd"]],
            hole=0.45,
            sort=False,
        )
    )
    share.update_layout(title="Share of billed cost", height=380)
    figures.append(("share", share))

    ranked = report.to_dict(top)["callers"]
    top_fig = go.Figure()
    top_fig.add_bar(
        name="billed", y=[c["caller"] for c in ranked][::-1], x=[c["billed_usd"] for c in ranked][::-1], orientation="h"
    )
    top_fig.add_bar(
        name="estimated", y=[c["caller"] for c in ranked][::-1], x=[c["estimated_usd"] for c in ranked][::-1], orientation="h"
    )
    top_fig.update_layout(barmode="group", title=f"Top {top} callers: billed vs estimated (USD)", height=360)
    figures.append(("top", top_fig))

    tokens = go.Figure()
    tokens.add_bar(name="input", x=names, y=[c["input_tokens"] for c in callers])
    tokens.add_bar(name="output", x=names, y=[c["output_tokens"] for c in callers])
    tokens.add_bar(name="cache read", x=names, y=[c["cache_read_tokens"] for c in callers])
    tokens.update_layout(barmode="stack", title="Tokens per caller (CloudWatch)", height=360)
    figures.append(("tokens", tokens))

    latency = go.Figure()
    for stat in ("p50", "p90", "p99"):
        latency.add_bar(name=stat, x=names, y=[c["latency_ms"].get(stat, 0.0) for c in callers])
    latency.update_layout(barmode="group", title="Invocation latency per caller (ms, CloudWatch)", height=360)
    figures.append(("latency", latency))

    for _, fig in figures:
        fig.update_layout(autosize=True, margin={"l": 60, "r": 20, "t": 60, "b": 50})
    parts = [
        fig.to_html(
            full_html=False,
            include_plotlyjs=(index == 0),
            div_id=f"chart-{name}",
            default_width="100%",
            config={"displaylogo": False, "responsive": True},
        )
        for index, (name, fig) in enumerate(figures)
    ]
    metered = bool(data["ledger"])
    metered_th = "<th>metered</th>" if metered else ""
    rows = "".join(
        f"<tr><td>{html.escape(c['caller'])}</td><td>{_usd(c['billed_usd'])}</td><td>{_usd(c['estimated_usd'])}</td>"
        + (f"<td>{_usd(c['metered_usd'] or 0.0)}</td>" if metered else "")
        + f"<td>{'–' if c['deviation'] is None else format(c['deviation'], '+.1%')}</td><td>{c['invocations']:,}</td>"
        f"<td>{c['input_tokens']:,} / {c['output_tokens']:,}</td><td>{c['throttles']:,}</td><td>{c['errors']:,}</td>"
        f"<td>{_coverage_cell(report, c['caller'])}</td></tr>"
        for c in callers
    )
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in data["warnings"])
    ledger_note = " Metered: the per-request ledger (aipctl meter)." if data["ledger"] else ""
    where = " · ".join(html.escape(f"{k} {v}") for k, v in target_info.items() if k in ("target", "account", "region"))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>aipctl: Bedrock cost per caller</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px; color: #1f2933; }}
.kpis {{ display: flex; gap: 16px; flex-wrap: wrap; }}
.kpi {{ border: 1px solid #d9e2ec; border-radius: 8px; padding: 12px 16px; }}
.kpi b {{ display: block; font-size: 1.4em; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }}
.chart {{ min-width: 0; }}
table {{ border-collapse: collapse; margin-top: 16px; }}
td, th {{ border-bottom: 1px solid #e4e7eb; padding: 6px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }} .bad {{ color: #b91c1c; }} .ok {{ color: #15803d; }}
</style></head><body>
<h1>Bedrock cost per caller</h1>
<p>{html.escape(data["period"]["start"])} to {html.escape(data["period"]["end"])} (exclusive) · {where} ·
Cost Explorer complete until {html.escape(data["period"]["complete_until"])}</p>
<div class="kpis" id="kpis">
<div class="kpi">billed<b>{_usd(data["total_billed_usd"])}</b></div>
<div class="kpi">estimated (through AIPs)<b>{_usd(data["total_estimated_usd"])}</b></div>
{f'<div class="kpi">metered (ledger)<b>{_usd(data["total_metered_usd"])}</b></div>' if data["ledger"] else ""}
<div class="kpi">untagged<b>{_usd(data["untagged_usd"])} ({data["untagged_share"]:.0%})</b></div>
<div class="kpi">callers<b>{len(callers)}</b></div></div>
{'<ul class="warnings">' + warnings + "</ul>" if warnings else ""}
<div class="grid">{"".join(f'<div class="chart">{p}</div>' for p in parts)}</div>
<table id="callers"><thead><tr><th>caller</th><th>billed</th><th>estimated</th>{metered_th}<th>deviation</th><th>invocations</th>
<th>tokens in / out</th><th>throttles</th><th>errors</th><th>AIP coverage</th></tr></thead><tbody>{rows}</tbody></table>
<p><small>Generated by aipctl. Billed: Cost Explorer grouped by the caller tag.
Estimated: CloudWatch tokens × the AIP's model price.{ledger_note}</small></p>
</body></html>
"""


def _coverage_cell(report: CostReport, caller: str) -> str:
    entry = report.coverage.get(caller)
    if not entry or entry.get("coverage") is None:
        return "–"
    css = "ok" if entry.get("verdict") == "ok" else "bad"
    return f'<span class="{css}">{entry["coverage"]:.0%} ({html.escape(entry["verdict"])})</span>'
