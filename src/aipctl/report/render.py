"""Report outputs: CSV, a markdown block kept up to date in a file, and an HTML dashboard."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from aipctl.pricing import usd_text as _usd
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
    "budget_usd",
    "forecast_usd",
    "row",
    "group",
)

#: The label columns a group row fills with its value (``--by tier`` → ``tier``).
LABEL_FIELDS = ("owner", "environment", "tier")


def to_csv(report: CostReport) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for caller in report.rows():  # each caller, then its tenants (chargeback needs both)
        row = caller.to_dict()
        latency = row.pop("latency_ms")
        kind = "caller" if caller.tenant is None else "tenant"
        forecast = report.forecast(caller)["forecast_usd"] if caller.tenant is None else None
        writer.writerow(
            {k: row.get(k) for k in CSV_FIELDS}
            | {f"{s}_ms": latency.get(s) for s in ("p50", "p90", "p99")}
            | {"forecast_usd": forecast, "row": kind}
        )
    writer.writerow({"caller": "(untagged)", "billed_usd": float(round(report.untagged, 6)), "row": "untagged"})
    for group in report.groups:  # --by: one row per value, its callers' totals
        writer.writerow(
            {
                "billed_usd": group["billed_usd"],
                "estimated_usd": group["estimated_usd"],
                "metered_usd": group["metered_usd"],
                "budget_usd": group["budget_usd"],
                "row": "group",
                "group": f"{group['by']}={group['value']}",
                **({str(group["by"]).lower(): group["value"]} if str(group["by"]).lower() in LABEL_FIELDS else {}),
            }
        )
    writer.writerow(
        {
            "caller": "(total)",
            "billed_usd": float(round(report.total_billed, 6)),
            "estimated_usd": float(round(report.total_estimated, 6)),
            "row": "total",
        }
    )
    return buffer.getvalue()


def rollup_markdown(report: CostReport) -> list[str]:
    """The ``--by`` totals as a markdown table (empty without ``--by``)."""
    if not report.groups:
        return []
    by = report.groups[0]["by"]
    lines = ["", f"By {by}:", "", f"| {by} | billed | share | estimated | budget | callers |", "|---|---:|---:|---:|---:|---|"]
    total = report.total_billed
    for g in report.groups:
        budget = "–" if g["budget_usd"] is None else _usd(g["budget_usd"])
        lines.append(
            f"| {_cell(str(g['value']))} | {_usd(g['billed_usd'])} | {_share(Decimal(str(g['billed_usd'])), total)} | "
            f"{_usd(g['estimated_usd'])} | {budget} | {_cell(', '.join(g['callers']))} |"
        )
    return lines


def _cell(text: str) -> str:
    """A markdown table cell: a pipe would end it."""
    return text.replace("|", "\\|")


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
    lines += rollup_markdown(report)
    if report.accounts:
        lines += ["", "Per account:", ""] + [f"- {line}" for line in account_lines(report)]
    lines += ["", f"Untagged remainder: {_usd(report.untagged)} ({report.untagged_share:.0%} of {_usd(total)} billed)."]
    for name, brake in sorted(report.brakes.items()):
        lines.append(f"Braked: {name} since {brake.at} ({brake.reason}).")
    if report.total_metered is not None:
        lines.append(f"Metered per request (ledger): {_usd(report.total_metered)}, up to the last ingested log.")
    lines.append(pricing_line(report))
    if report.coverage:
        bypassing = [c for c, v in sorted(report.coverage.items()) if v.get("verdict") == "bypassing"]
        if bypassing:
            lines.append(f"Still bypassing their AIP: {', '.join(bypassing)}.")
    lines += ["", "_Maintained by `aipctl report --markdown`; edits inside this block are replaced._", END]
    return "\n".join(lines)


def pricing_line(report: CostReport) -> str:
    """Which prices the estimate used, and the negotiated terms beside list price."""
    book = report.pricing.get("book") or {}
    terms = report.pricing.get("terms")
    line = f"Estimate priced from: {book.get('source', 'the price book')}, {book.get('generated', '?')}."
    if terms:
        parts = [f"{terms['discount_pct']:g} % off list"] + [f"{m} {d:g} %" for m, d in terms["models"].items()]
        if terms["credits_usd_per_month"]:
            parts.append(f"${terms['credits_usd_per_month']:,.2f} credits a month")
        net = report.to_dict().get("total_billed_net_usd")
        line += f" Negotiated: {', '.join(parts)}" + (f"; billed net {_usd(Decimal(str(net)))}." if net is not None else ".")
    return line


def account_lines(report: CostReport) -> list[str]:
    """Organization inventories: each caller's cost line per account (billed, estimated) and its Regions."""
    out = []
    for caller in report.caller_rows:
        for line in report.account_lines(caller):
            regions = ", ".join(line["regions"]) or "not placed here"
            out.append(
                f"{caller.caller}: {line['account']} ({line['account_id']}) {regions}: billed "
                f"${line['billed_usd']:,.4f}, estimated ${line['estimated_usd']:,.4f}"
            )
    return out


def update_markdown(path: Path, report: CostReport, top: int) -> bool:
    """Replace the marked block (or append it); the rest of the file is untouched. True if changed."""
    return replace_block(path, BEGIN, END, markdown_block(report, top))


def replace_block(path: Path, begin: str, end: str, block: str) -> bool:
    """Put ``block`` (which starts with ``begin`` and ends with ``end``) where the file has one, else append it;
    the rest of the file is untouched. True if the file changed."""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
        new = pattern.sub(lambda _m: block, text, count=1) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        new = "# Caller inventory\n\n" + block + "\n"
        text = ""
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


#: Past this many callers a chart shows the top ones and folds the rest into "other callers".
SERIES_LIMIT = 8
#: Bars in the per-caller charts (sorted, largest first).
BAR_LIMIT = 15
PALETTE = ("#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04", "#db2777", "#64748b")


def _period_days(report: CostReport) -> list[str]:
    return [(report.start + dt.timedelta(days=i)).isoformat() for i in range((report.end - report.start).days)]


def _day_label(day: str) -> str:
    return dt.date.fromisoformat(day).strftime("%b %d")


def _figures(report: CostReport) -> list[tuple[str, str, Any]]:
    """The dashboard's charts, in page order: (id, css class, plotly figure)."""
    import plotly.graph_objects as go

    ranked = report.top(len(report.callers))
    days = _period_days(report)
    labels = [_day_label(d) for d in days]
    dailies = {c.caller: report.daily(c) for c in ranked}
    figures: list[tuple[str, str, Any]] = []

    trend = go.Figure()  # every day of the period on the axis; the top callers stacked, the rest folded
    shown = ranked[:SERIES_LIMIT]
    for index, c in enumerate(shown):
        trend.add_bar(name=c.caller, x=labels, y=[float(dailies[c.caller].get(d, 0)) for d in days], marker_color=PALETTE[index])
    rest = ranked[SERIES_LIMIT:]
    if rest:
        trend.add_bar(
            name=f"{len(rest)} other callers",
            x=labels,
            y=[float(sum((dailies[c.caller].get(d, Decimal(0)) for c in rest), Decimal(0))) for d in days],
            marker_color=PALETTE[-1],
        )
    cut = _day_label(report.complete_until.isoformat()) if report.complete_until < report.end else None
    trend.update_layout(
        barmode="stack",
        title="Spend per day (USD): bill, then CloudWatch estimate for the days the bill does not have yet",
        height=420,
        xaxis={"type": "category", "tickmode": "array", "tickvals": labels, "ticktext": labels, "tickangle": -45},
    )
    if cut in labels:
        trend.add_vline(x=labels.index(cut) - 0.5, line_dash="dot", line_color="#64748b")
        trend.add_annotation(x=cut, y=1, yref="paper", text="estimate →", showarrow=False, xanchor="left")
    figures.append(("trend", "chart wide", trend))

    budgeted = sorted(((c, report.forecast(c)) for c in ranked if c.budget_usd), key=lambda cf: -cf[1]["forecast_usd"])
    figures.append(("budget", "chart", _budget_figure(report, [(c.caller, f) for c, f in budgeted[:BAR_LIMIT]], "caller")))

    share = go.Figure()
    if len(ranked) <= SERIES_LIMIT:
        share.add_pie(
            labels=[*(c.caller for c in ranked), "(untagged)"],
            values=[*(float(c.bill) for c in ranked), float(report.untagged)],
            hole=0.45,
            sort=False,
            marker={"colors": [*PALETTE[: len(ranked)], "#cbd5e1"]},
        )
    else:  # a sorted bar: a pie with dozens of slices cannot be read
        top = ranked[:BAR_LIMIT]
        other = sum((c.bill for c in ranked[BAR_LIMIT:]), Decimal(0))
        names = [*(c.caller for c in top), *([f"{len(ranked) - BAR_LIMIT} others"] if other else []), "(untagged)"]
        values = [*(float(c.bill) for c in top), *([float(other)] if other else []), float(report.untagged)]
        share.add_bar(name="billed", y=names[::-1], x=values[::-1], orientation="h", marker_color=PALETTE[0])
    share.update_layout(title="Share of the bill per caller", height=max(360, 60 + 26 * min(len(ranked) + 2, BAR_LIMIT + 2)))
    figures.append(("share", "chart", share))

    movers = report.movers()
    move = go.Figure()
    if movers:
        move.add_bar(
            name="change per day",
            y=[m["caller"] for m in movers][::-1],
            x=[m["change_usd_per_day"] for m in movers][::-1],
            orientation="h",
            marker_color=[PALETTE[3] if m["change_usd_per_day"] > 0 else PALETTE[2] for m in movers][::-1],
        )
    else:
        move.add_annotation(text="The period is too short to compare", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    move.update_layout(title="Top movers: USD per day, later half of the period vs earlier half", height=360)
    figures.append(("movers", "chart", move))

    if report.tiers:
        tiers = [(str(t["value"]), _tier_forecast(report, t)) for t in report.tiers]
        figures.append(("tiers", "chart", _budget_figure(report, tiers, "tier")))

    busiest = ranked[:BAR_LIMIT]
    names = [c.caller for c in busiest]
    lines = [c.line("estimated") for c in busiest]
    tokens = go.Figure()
    tokens.add_bar(name="input", x=names, y=[line.input_tokens for line in lines], marker_color=PALETTE[0])
    tokens.add_bar(name="output", x=names, y=[line.output_tokens for line in lines], marker_color=PALETTE[1])
    tokens.add_bar(name="cache read", x=names, y=[line.cache_read_tokens for line in lines], marker_color=PALETTE[2])
    tokens.update_layout(barmode="stack", title="Tokens per caller (CloudWatch)", height=360)
    figures.append(("tokens", "chart", tokens))

    latency = go.Figure()
    for index, stat in enumerate(("p50", "p90", "p99")):
        latency.add_bar(name=stat, x=names, y=[c.health.latency_ms.get(stat, 0.0) for c in busiest], marker_color=PALETTE[index])
    latency.update_layout(barmode="group", title="Invocation latency per caller (ms, CloudWatch)", height=360)
    figures.append(("latency", "chart", latency))

    for _, _, fig in figures:
        fig.update_layout(
            autosize=True,
            margin={"l": 70, "r": 20, "t": 60, "b": 60},
            legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
            showlegend=True,
            title={"font": {"size": 15}},
        )
    return figures


def _budget_figure(report: CostReport, rows: Sequence[tuple[str, Mapping[str, Any]]], what: str) -> Any:
    """Month to date and month-end forecast as % of each row's monthly budget, with the 100 % line: rows of
    very different budgets stay comparable (a $20 and a $1,600 budget on one USD axis would not)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    rows = [(name, f) for name, f in rows if f.get("budget_usd")][::-1]
    if not rows:
        fig.add_annotation(
            text=f"No {what} has a budget in the inventory", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
        )
    names = [name for name, _ in rows]
    for label, key, color in (("month to date", "mtd_usd", PALETTE[0]), ("forecast (month end)", "forecast_usd", "#93c5fd")):
        fig.add_bar(
            name=label,
            y=names,
            x=[f[key] / f["budget_usd"] * 100 for _, f in rows],
            orientation="h",
            marker_color=color,
            text=[_usd(f[key]) for _, f in rows],
            textposition="auto",
            hovertemplate="%{y}: %{text} (%{x:.1f}% of budget)<extra>" + label + "</extra>",
        )
    fig.add_vline(x=100, line_color=PALETTE[3], line_width=2, annotation_text="budget", annotation_position="top")
    most = max([100.0, *(f["forecast_usd"] / f["budget_usd"] * 100 for _, f in rows)])
    fig.update_layout(
        barmode="group",
        title=f"Budget vs actual per {what}, {report.today:%B %Y} (% of the monthly budget)",
        height=max(360, 90 + 44 * len(rows)),
        xaxis={"range": [0, most * 1.08], "ticksuffix": "%"},
    )
    return fig


def _tier_forecast(report: CostReport, tier: Mapping[str, Any]) -> dict[str, Any]:
    """A tier's month to date and forecast: the sums over its callers."""
    members = [c for c in report.caller_rows if c.caller in set(tier["callers"])]
    forecasts = [report.forecast(c) for c in members]
    return {
        "mtd_usd": sum(f["mtd_usd"] for f in forecasts),
        "forecast_usd": sum(f["forecast_usd"] for f in forecasts),
        "budget_usd": tier["budget_usd"],
    }


def _caller_rows(report: CostReport) -> str:
    metered = report.total_metered is not None
    principal = "principal" in report.sources.values()
    bypassers = {b["caller"]: b for b in report.bypassers()}
    rows = []
    for c in report.top(len(report.callers)):
        tokens = c.line("estimated")
        forecast = report.forecast(c)
        pct = forecast["forecast_pct_of_budget"]
        over = pct is not None and pct > 100
        flag = ""
        if c.caller in bypassers:
            flag = f' <span class="bad flag">bypass: {_usd(bypassers[c.caller]["outside_aips_usd"])} outside its AIPs</span>'
        rows.append(
            f"<tr{' class=bypass' if flag else ''}><td>{html.escape(c.caller)}{flag}</td>"
            f"<td>{html.escape(c.labels.get('owner') or '–')}</td><td>{html.escape(c.labels.get('tier') or '–')}</td>"
            f"<td>{_usd(c.bill)}</td>"
            + (f"<td>{_usd(c.line('principal').usd)}</td>" if principal else "")
            + f"<td>{_usd(c.estimated)}</td>"
            + (f"<td>{_usd(c.metered or 0)}</td>" if metered else "")
            + f"<td>{'–' if c.budget_usd is None else _usd(c.budget_usd)}</td>"
            f'<td class="{"bad" if over else ""}">{_usd(forecast["forecast_usd"])}'
            f"{'' if pct is None else f' ({pct:.1f}%)' if pct < 10 else f' ({pct:.0f}%)'}</td>"
            f"<td>{_deviation(c)}</td><td>{c.health.invocations:,}</td>"
            f"<td>{tokens.input_tokens:,} / {tokens.output_tokens:,}</td>"
            f"<td>{c.health.throttles:,}</td><td>{c.health.errors:,}</td>"
            f"<td>{_coverage_cell(report, c.caller)}</td></tr>"
        )
    return "".join(rows)


def _rollup_table(groups: Sequence[Mapping[str, Any]], table_id: str) -> str:
    if not groups:
        return ""
    by = html.escape(str(groups[0]["by"]))
    rows = "".join(
        f"<tr><td>{html.escape(str(g['value']))}</td><td>{_usd(g['billed_usd'])}</td><td>{_usd(g['estimated_usd'])}</td>"
        f"<td>{'–' if g['budget_usd'] is None else _usd(g['budget_usd'])}</td><td>{len(g['callers'])}</td></tr>"
        for g in groups
    )
    return (
        f'<h2>By {by}</h2><table id="{table_id}"><thead><tr><th>{by}</th><th>billed</th><th>estimated</th>'
        f"<th>budget</th><th>callers</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def html_dashboard(report: CostReport, target_info: dict[str, str], top: int) -> str:
    """A self-contained page (plotly.js inlined once): works offline."""
    figures = _figures(report)
    parts = [
        f'<section class="{css}" id="section-{name}">'
        + fig.to_html(
            full_html=False,
            include_plotlyjs=(index == 0),
            div_id=f"chart-{name}",
            default_width="100%",
            config={"displaylogo": False, "responsive": True},
        )
        + "</section>"
        for index, (name, css, fig) in enumerate(figures)
    ]
    metered = report.total_metered
    principal = "principal" in report.sources.values()
    forecasts = [report.forecast(c) for c in report.caller_rows]
    forecast_total = sum(f["forecast_usd"] for f in forecasts)
    budgets = [c.budget_usd for c in report.caller_rows if c.budget_usd]
    bypassers = report.bypassers()
    metered_kpi = f'<div class="kpi">metered (ledger)<b>{_usd(metered)}</b></div>' if metered is not None else ""
    budget_kpi = f" of {_usd(sum(budgets))} budgeted" if budgets else ""
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in report.warnings)
    ledger_note = " Metered: the per-request ledger (aipctl meter)." if metered is not None else ""
    where = " · ".join(html.escape(f"{k} {v}") for k, v in target_info.items() if k in ("target", "account", "region"))
    principal_th = "<th>by principal</th>" if principal else ""
    metered_th = "<th>metered</th>" if metered is not None else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>aipctl: Bedrock cost per caller</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
* {{ box-sizing: border-box; }}
body {{ font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px; color: #1f2933; max-width: 100%; }}
h1 {{ margin: 0 0 4px; }} h2 {{ font-size: 1.1em; margin: 24px 0 4px; }}
.kpis {{ display: flex; gap: 12px; flex-wrap: wrap; margin: 16px 0; }}
.kpi {{ border: 1px solid #d9e2ec; border-radius: 8px; padding: 10px 14px; min-width: 150px; }}
.kpi b {{ display: block; font-size: 1.35em; }} .kpi.alert {{ border-color: #b91c1c; color: #b91c1c; }}
.grid {{ display: grid; grid-template-columns: minmax(0, 1fr); gap: 16px; }}
@media (min-width: 1200px) {{ .grid {{ grid-template-columns: repeat(2, minmax(0, 1fr)); }} }}
.chart {{ min-width: 0; border: 1px solid #e4e7eb; border-radius: 8px; padding: 4px; overflow: hidden; }}
.chart.wide {{ grid-column: 1 / -1; }}
.scroll {{ overflow-x: auto; }}
table {{ border-collapse: collapse; margin-top: 8px; }}
td, th {{ border-bottom: 1px solid #e4e7eb; padding: 5px 8px; text-align: right; white-space: nowrap; font-size: .92em; }}
td:first-child, th:first-child {{ text-align: left; }}
td.why {{ white-space: normal; text-align: left; min-width: 24em; }} .bad {{ color: #b91c1c; }} .ok {{ color: #15803d; }}
.flag {{ font-size: .85em; border: 1px solid #b91c1c; border-radius: 4px; padding: 0 4px; margin-left: 6px; }}
</style></head><body>
<h1>Bedrock cost per caller</h1>
<p>{report.start.isoformat()} to {report.end.isoformat()} (exclusive) · {where} ·
Cost Explorer complete until {report.complete_until.isoformat()}</p>
<div class="kpis" id="kpis">
<div class="kpi">billed<b>{_usd(report.total_billed)}</b></div>
<div class="kpi">estimated (through AIPs)<b>{_usd(report.total_estimated)}</b></div>
{metered_kpi}
<div class="kpi">forecast, {report.today:%B}<b>{_usd(forecast_total)}</b>{budget_kpi}</div>
<div class="kpi">untagged<b>{_usd(report.untagged)} ({report.untagged_share:.0%})</b></div>
<div class="kpi{" alert" if bypassers else ""}">bypassing their AIPs<b>{len(bypassers)}</b></div>
<div class="kpi">callers<b>{len(report.caller_rows)}</b></div></div>
{'<ul class="warnings">' + warnings + "</ul>" if warnings else ""}
<div class="grid">{"".join(parts)}</div>
{_rollup_table(report.tiers, "tiers")}
{_rollup_table(report.groups, "groups") if report.groups and report.groups[0]["by"] != "tier" else ""}
{_advice_table(report)}
{_accounts_table(report)}
<h2>Callers</h2>
<div class="scroll"><table id="callers"><thead><tr><th>caller</th><th>owner</th><th>tier</th><th>billed</th>{principal_th}
<th>estimated</th>{metered_th}<th>budget</th><th>forecast (of budget)</th><th>deviation</th><th>invocations</th>
<th>tokens in / out</th><th>throttles</th><th>errors</th><th>AIP coverage</th></tr></thead>
<tbody>{_caller_rows(report)}</tbody></table></div>
<p><small>Generated by aipctl. Billed: Cost Explorer grouped by the caller tag (by principal: the IAM principal's tags,
which also price calls made outside the caller's AIPs). Estimated: CloudWatch tokens × the AIP's model price.{ledger_note}
Forecast: month to date plus the run rate (mean of the last 7 whole days) for the rest of the month.</small></p>
</body></html>
"""


def _advice_table(report: CostReport) -> str:
    """``report --advise``: where to save, as aipctl advise says (nothing when it was not asked)."""
    if report.advice is None:
        return ""
    rows = (
        "".join(
            f"<tr><td>{html.escape(str(a['kind']))}</td><td>{html.escape(str(a['caller']))}</td>"
            f"<td>{html.escape(str(a['alias'] or '–'))}</td>"
            f"<td>{_usd(Decimal(str(a['monthly_saving_usd']))) if a['monthly_saving_usd'] else '–'}</td>"
            f'<td>{html.escape(str(a["confidence"]))}</td><td class="why">{html.escape(str(a["detail"]))}</td></tr>'
            for a in report.advice
        )
        or '<tr><td colspan="6">Nothing to advise: the data supports no recommendation.</td></tr>'
    )
    return (
        '<h2>Where to save</h2><div class="scroll"><table id="advice"><thead><tr><th>kind</th><th>caller</th>'
        "<th>model alias</th><th>monthly saving</th><th>confidence</th><th>why</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def _accounts_table(report: CostReport) -> str:
    """An organization's report: each caller's cost line per account it runs in, and each account's total."""
    if not report.accounts:
        return ""
    rows, billed, estimated = [], dict.fromkeys(report.accounts, Decimal(0)), dict.fromkeys(report.accounts, Decimal(0))
    for caller in report.caller_rows:
        if caller.tenant is not None:
            continue  # a tenant's cost is inside its caller's line
        for line in report.account_lines(caller):
            key = (line["account"], line["account_id"])
            line_billed, line_estimated = Decimal(str(line["billed_usd"])), Decimal(str(line["estimated_usd"]))
            billed[key] += line_billed
            estimated[key] += line_estimated
            rows.append(
                f"<tr><td>{html.escape(caller.caller)}</td><td>{html.escape(line['account'])} ({line['account_id']})</td>"
                f"<td>{html.escape(', '.join(line['regions']) or '–')}</td>"
                f"<td>{_usd(line_billed)}</td><td>{_usd(line_estimated)}</td></tr>"
            )
    totals = "".join(
        f"<tr><th>all callers</th><th>{html.escape(alias)} ({account_id})</th><th></th>"
        f"<th>{_usd(billed[(alias, account_id)])}</th><th>{_usd(estimated[(alias, account_id)])}</th></tr>"
        for alias, account_id in report.accounts
    )
    return (
        '<h2>Per account</h2><div class="scroll"><table id="accounts"><thead><tr><th>caller</th><th>account</th>'
        f"<th>Regions</th><th>billed</th><th>estimated</th></tr></thead><tbody>{''.join(rows)}</tbody>"
        f"<tfoot>{totals}</tfoot></table></div>"
    )


def _coverage_cell(report: CostReport, caller: str) -> str:
    entry = report.coverage.get(caller)
    if not entry or entry.get("coverage") is None:
        return "–"
    css = "ok" if entry.get("verdict") == "ok" else "bad"
    return f'<span class="{css}">{entry["coverage"]:.0%} ({html.escape(entry["verdict"])})</span>'
