"""Report outputs: CSV, a markdown block kept up to date in a file, and an HTML dashboard."""

from __future__ import annotations

import csv
import html
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from aipctl.report import CallerCost, CostReport

BEGIN, END = "<!-- aipctl:report:begin -->", "<!-- aipctl:report:end -->"
CSV_FIELDS = (
    "caller",
    "tenant",
    "owner",
    "environment",
    "tier",
    "cost_center",
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
    for caller in report.rows():  # each caller, then its tenants (chargeback needs both)
        row = caller.to_dict()
        latency = row.pop("latency_ms")
        writer.writerow({k: row.get(k) for k in CSV_FIELDS} | {f"{s}_ms": latency.get(s) for s in ("p50", "p90", "p99")})
    writer.writerow({"caller": "(untagged)", "billed_usd": float(round(report.untagged, 6))})
    return buffer.getvalue()


def _usd(value: float | Decimal) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:,.4f}"


def _share(part: Decimal, total: Decimal) -> str:
    return f"{part / total:.0%}" if total else "–"


def _deviation(caller: CallerCost) -> str:
    return "–" if caller.deviation is None else f"{caller.deviation:+.1%}"


def markdown_block(report: CostReport, top: int) -> str:
    total = report.total_billed
    lines = [
        BEGIN,
        f"### Bedrock cost per caller, {report.start.isoformat()} to {report.end.isoformat()} (exclusive)",
        "",
        f"Top {top} by billed cost (Cost Explorer, tag `Application`; complete until {report.complete_until.isoformat()}):",
        "",
        "| # | caller | billed | share | estimated | deviation | invocations | tokens in / out |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for rank, caller in enumerate(report.top(top), 1):
        tokens = caller.line("estimated")
        lines.append(
            f"| {rank} | {caller.caller} | {_usd(caller.billed)} | {_share(caller.billed, total)} | {_usd(caller.estimated)} | "
            f"{_deviation(caller)} | {caller.health.invocations:,} | {tokens.input_tokens:,} / {tokens.output_tokens:,} |"
        )
    lines += ["", f"Untagged remainder: {_usd(report.untagged)} ({report.untagged_share:.0%} of {_usd(total)} billed)."]
    for name, brake in sorted(report.brakes.items()):
        lines.append(f"Braked: {name} since {brake.at} ({brake.reason}).")
    if report.total_metered is not None:
        lines.append(f"Metered per request (ledger): {_usd(report.total_metered)}, up to the last ingested log.")
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


def _figures(report: CostReport, top: int) -> list[tuple[str, Any]]:
    """The dashboard's charts, in page order: (id, plotly figure)."""
    import plotly.graph_objects as go

    callers = report.top(len(report.callers))
    names = [c.caller for c in callers]
    days = sorted({d for c in callers for d in (*c.line("billed").by_day, *c.line("estimated").by_day)})
    untagged = float(report.untagged)

    per_day = go.Figure()
    for c in callers:
        by_day = c.line("billed").by_day
        per_day.add_bar(name=c.caller, x=days, y=[float(by_day.get(d, 0)) for d in days])
    per_day.add_bar(name="(untagged)", x=days[:1], y=[untagged], visible="legendonly")
    per_day.update_layout(barmode="stack", title="Billed cost per caller per day (USD, Cost Explorer)", height=380)

    share = go.Figure(
        go.Pie(labels=[*names, "(untagged)"], values=[*(float(c.billed) for c in callers), untagged], hole=0.45, sort=False)
    )
    share.update_layout(title="Share of billed cost", height=380)

    ranked = report.top(top)[::-1]
    top_fig = go.Figure()
    top_fig.add_bar(name="billed", y=[c.caller for c in ranked], x=[float(c.billed) for c in ranked], orientation="h")
    top_fig.add_bar(name="estimated", y=[c.caller for c in ranked], x=[float(c.estimated) for c in ranked], orientation="h")
    top_fig.update_layout(barmode="group", title=f"Top {top} callers: billed vs estimated (USD)", height=360)

    tokens = go.Figure()
    lines = [c.line("estimated") for c in callers]
    tokens.add_bar(name="input", x=names, y=[line.input_tokens for line in lines])
    tokens.add_bar(name="output", x=names, y=[line.output_tokens for line in lines])
    tokens.add_bar(name="cache read", x=names, y=[line.cache_read_tokens for line in lines])
    tokens.update_layout(barmode="stack", title="Tokens per caller (CloudWatch)", height=360)

    latency = go.Figure()
    for stat in ("p50", "p90", "p99"):
        latency.add_bar(name=stat, x=names, y=[c.health.latency_ms.get(stat, 0.0) for c in callers])
    latency.update_layout(barmode="group", title="Invocation latency per caller (ms, CloudWatch)", height=360)

    figures = [("per-day", per_day), ("share", share), ("top", top_fig), ("tokens", tokens), ("latency", latency)]
    for _, fig in figures:
        fig.update_layout(autosize=True, margin={"l": 60, "r": 20, "t": 60, "b": 50})
    return figures


def _caller_rows(report: CostReport) -> str:
    metered = report.total_metered is not None
    rows = []
    for c in report.top(len(report.callers)):
        tokens = c.line("estimated")
        rows.append(
            f"<tr><td>{html.escape(c.caller)}</td><td>{_usd(c.billed)}</td><td>{_usd(c.estimated)}</td>"
            + (f"<td>{_usd(c.metered or 0)}</td>" if metered else "")
            + f"<td>{_deviation(c)}</td><td>{c.health.invocations:,}</td>"
            f"<td>{tokens.input_tokens:,} / {tokens.output_tokens:,}</td>"
            f"<td>{c.health.throttles:,}</td><td>{c.health.errors:,}</td>"
            f"<td>{_coverage_cell(report, c.caller)}</td></tr>"
        )
    return "".join(rows)


def html_dashboard(report: CostReport, target_info: dict[str, str], top: int) -> str:
    """A self-contained page (plotly.js inlined once): works offline."""
    parts = [
        fig.to_html(
            full_html=False,
            include_plotlyjs=(index == 0),
            div_id=f"chart-{name}",
            default_width="100%",
            config={"displaylogo": False, "responsive": True},
        )
        for index, (name, fig) in enumerate(_figures(report, top))
    ]
    metered = report.total_metered
    metered_th = "<th>metered</th>" if metered is not None else ""
    metered_kpi = f'<div class="kpi">metered (ledger)<b>{_usd(metered)}</b></div>' if metered is not None else ""
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in report.warnings)
    ledger_note = " Metered: the per-request ledger (aipctl meter)." if metered is not None else ""
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
<p>{report.start.isoformat()} to {report.end.isoformat()} (exclusive) · {where} ·
Cost Explorer complete until {report.complete_until.isoformat()}</p>
<div class="kpis" id="kpis">
<div class="kpi">billed<b>{_usd(report.total_billed)}</b></div>
<div class="kpi">estimated (through AIPs)<b>{_usd(report.total_estimated)}</b></div>
{metered_kpi}
<div class="kpi">untagged<b>{_usd(report.untagged)} ({report.untagged_share:.0%})</b></div>
<div class="kpi">callers<b>{len(report.callers)}</b></div></div>
{'<ul class="warnings">' + warnings + "</ul>" if warnings else ""}
<div class="grid">{"".join(f'<div class="chart">{p}</div>' for p in parts)}</div>
<table id="callers"><thead><tr><th>caller</th><th>billed</th><th>estimated</th>{metered_th}<th>deviation</th><th>invocations</th>
<th>tokens in / out</th><th>throttles</th><th>errors</th><th>AIP coverage</th></tr></thead>
<tbody>{_caller_rows(report)}</tbody></table>
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
