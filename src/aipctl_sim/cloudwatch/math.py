"""GetMetricData expressions over AWS/Bedrock: metric math, SEARCH and Metrics Insights SELECT.

What is emulated (each as CloudWatch documents it; anything else is a ValidationError naming it):

- **metric math** on the ids of other queries: ``+ - * / ^``, unary minus, numbers, parentheses;
  ``SUM``, ``AVG``, ``MIN``, ``MAX`` (of an array ``[m1, m2]`` or ``METRICS()``: one time series,
  per timestamp across the series; of one time series: a scalar over its points), ``ABS``, ``CEIL``,
  ``FLOOR``, ``FILL(x, value | REPEAT | LINEAR)``, ``METRICS(['prefix'])``. Two time series combine on
  the timestamps both have (a missing point makes a missing result, which is what FILL is for);
- **SEARCH('{AWS/Bedrock,ModelId} MetricName="InputTokenCount"', 'Sum', 300)**: one time series per
  matching metric, labelled with its ModelId; terms are ``Name="value"`` / ``Name=value`` pairs and
  bare or quoted words (matched in the metric name and dimension values), combined with AND
  (implicit) and OR;
- **Metrics Insights**: ``SELECT SUM|AVG|MIN|MAX|COUNT(metric) FROM "AWS/Bedrock" | SCHEMA("AWS/Bedrock"[, ModelId])
  [WHERE ModelId = '…' [AND …]] [GROUP BY ModelId] [ORDER BY FUNC() ASC|DESC] [LIMIT n]``, at the
  query's ``Period``; with GROUP BY one time series per ModelId, labelled with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Union

from aipctl_sim.cloudwatch.metrics import METRICS, NAMESPACE, Aggregate, model_ids, samples_by_model, statistic
from aipctl_sim.protocol import ServiceError


class ValidationException(ServiceError):
    """CloudWatch's own code for a request it cannot evaluate (its query protocol names it ValidationError)."""

    code, status = "ValidationError", 400


@dataclass
class Series:
    """One time series: period start -> value, at ``period`` seconds."""

    points: dict[float, float]
    period: int
    label: str = ""


@dataclass
class Context:
    account: str
    region: str
    start: float
    end: float
    resolve: Callable[[str], Value]  # another query's result, by id
    metric_ids: Sequence[str] = field(default_factory=list)  # the ids of the request's MetricStat queries


Value = Union[Series, list[Series], float]  # noqa: UP007 (a runtime alias)
#: A function's argument: a value, or a literal (a quoted string, REPEAT, LINEAR) as ("literal", text).
Arg = Union[tuple[str, str], Value]  # noqa: UP007


def grid(ctx: Context, period: int) -> list[float]:
    first = math.floor(ctx.start / period) * period
    return [float(t) for t in range(int(first), int(ctx.end), period)]


# -- parsing -------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>[-+*/^(),\[\]]))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValidationException(f"Unsupported expression syntax at '{text[pos : pos + 20]}' (aipctl sim)")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str, ctx: Context) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.ctx = ctx

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ValidationException(f"Expression is malformed: expected {value or 'more'} (aipctl sim)")
        self.pos += 1
        return token

    def parse(self) -> Value:
        value = self.sum()
        extra = self.peek()
        if extra is not None:
            raise ValidationException(f"Unexpected '{extra[1]}' in expression")
        return value

    def sum(self) -> Value:
        value = self.product()
        while (token := self.peek()) and token[1] in "+-":
            self.take()
            value = _combine(value, self.product(), token[1])
        return value

    def product(self) -> Value:
        value = self.power()
        while (token := self.peek()) and token[1] in "*/":
            self.take()
            value = _combine(value, self.power(), token[1])
        return value

    def power(self) -> Value:
        value = self.unary()
        if (token := self.peek()) and token[1] == "^":
            self.take()
            value = _combine(value, self.power(), "^")
        return value

    def unary(self) -> Value:
        if (token := self.peek()) and token[1] == "-":
            self.take()
            return _combine(0.0, self.unary(), "-")
        return self.atom()

    def atom(self) -> Value:
        kind, text = self.take()
        if kind == "num":
            return float(text)
        if text == "(":
            value = self.sum()
            self.take(")")
            return value
        if text == "[":
            items = [self.sum()]
            while (token := self.peek()) and token[1] == ",":
                self.take()
                items.append(self.sum())
            self.take("]")
            return _array(items)
        if kind == "name":
            if (token := self.peek()) and token[1] == "(":
                return self.call(text.upper())
            return self.ctx.resolve(text)
        raise ValidationException(f"Unexpected '{text}' in expression")

    def arguments(self) -> list[Arg]:
        self.take("(")
        args: list[Arg] = []
        while (token := self.peek()) and token[1] != ")":
            if token[0] == "str" or (token[0] == "name" and token[1].upper() in ("REPEAT", "LINEAR")):
                self.take()
                args.append(("literal", token[1].strip("'\"") if token[0] == "str" else token[1].upper()))
            else:
                args.append(self.sum())
            if (token := self.peek()) and token[1] == ",":
                self.take()
        self.take(")")
        return args

    def call(self, name: str) -> Value:
        args = self.arguments()
        function = FUNCTIONS.get(name)
        if function is None:
            raise ValidationException(
                f"Unsupported function {name} in a metric math expression (aipctl sim emulates {', '.join(sorted(FUNCTIONS))})"
            )
        return function(self.ctx, args)


# -- values --------------------------------------------------------------------------------------
def _array(items: Sequence[Value]) -> list[Series]:
    out: list[Series] = []
    for item in items:
        if isinstance(item, float):
            raise ValidationException("An array in a metric math expression holds time series, not numbers")
        out.extend(item if isinstance(item, list) else [item])
    return out


_OPS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else math.nan,
    "^": lambda a, b: a**b,
}


def _combine(left: Value, right: Value, op: str) -> Value:
    fn = _OPS[op]
    if isinstance(left, list) and isinstance(right, list):
        raise ValidationException("Metric math cannot combine two arrays of time series")
    if isinstance(left, list):
        return [_series(_combine(s, right, op)) for s in left]
    if isinstance(right, list):
        return [_series(_combine(left, s, op)) for s in right]
    if isinstance(left, float) and isinstance(right, float):
        return fn(left, right)
    if isinstance(left, float):
        assert isinstance(right, Series)
        return Series({t: fn(left, v) for t, v in right.points.items()}, right.period, right.label)
    if isinstance(right, float):
        return Series({t: fn(v, right) for t, v in left.points.items()}, left.period, left.label)
    return Series(
        {t: fn(v, right.points[t]) for t, v in left.points.items() if t in right.points}, min(left.period, right.period)
    )


def _series(value: Value) -> Series:
    assert isinstance(value, Series), "a series combined with a number or series is a series"
    return value


def _samples(buckets: Mapping[float, list[float] | Aggregate]) -> dict[float, list[float]]:
    """The sample values of buckets read with ``need_values=True``."""
    return {t: v for t, v in buckets.items() if isinstance(v, list)}


def _one(args: Sequence[Arg], name: str) -> Value:
    if len(args) != 1 or isinstance(args[0], tuple):
        raise ValidationException(f"{name} takes one time series or array")
    return args[0]


def _reducer(reduce: Callable[[list[float]], float]) -> Callable[[Context, list[Arg]], Value]:
    def apply(ctx: Context, args: list[Arg]) -> Value:
        value = _one(args, "this function")
        if isinstance(value, float):
            return value
        if isinstance(value, Series):
            return reduce(list(value.points.values())) if value.points else math.nan
        if not value:
            return Series({}, 60)
        stamps = sorted({t for s in value for t in s.points})
        return Series({t: reduce([s.points[t] for s in value if t in s.points]) for t in stamps}, min(s.period for s in value))

    return apply


def _pointwise(fn: Callable[[float], float]) -> Callable[[Context, list[Arg]], Value]:
    def apply(ctx: Context, args: list[Arg]) -> Value:
        value = _one(args, "this function")
        if isinstance(value, float):
            return fn(value)
        series = value if isinstance(value, list) else [value]
        out = [Series({t: fn(v) for t, v in s.points.items()}, s.period, s.label) for s in series]
        return out if isinstance(value, list) else out[0]

    return apply


def _fill(ctx: Context, args: list[Arg]) -> Value:
    if len(args) != 2 or isinstance(args[0], tuple):
        raise ValidationException("FILL takes a time series (or array) and a value, REPEAT or LINEAR")
    target, how = args[0], args[1]
    series = target if isinstance(target, list) else [target]
    out = []
    for s in series:
        if not isinstance(s, Series):
            raise ValidationException("FILL fills time series")
        stamps = grid(ctx, s.period)
        filled: dict[float, float] = {}
        if isinstance(how, tuple) and how[1] in ("REPEAT", "LINEAR"):
            known = sorted(s.points.items())
            for t in stamps:
                if t in s.points:
                    filled[t] = s.points[t]
                    continue
                before = [(k, v) for k, v in known if k < t]
                after = [(k, v) for k, v in known if k > t]
                if how[1] == "REPEAT" and before:
                    filled[t] = before[-1][1]
                elif how[1] == "LINEAR" and before and after:
                    (t0, v0), (t1, v1) = before[-1], after[0]
                    filled[t] = v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        elif isinstance(how, float):
            filled = {t: s.points.get(t, how) for t in stamps}
        else:
            raise ValidationException("FILL's second argument is a number, REPEAT or LINEAR")
        out.append(Series(filled, s.period, s.label))
    return out if isinstance(target, list) else out[0]


def _metrics(ctx: Context, args: list[Arg]) -> Value:
    prefix = ""
    if args:
        if len(args) != 1 or not isinstance(args[0], tuple):
            raise ValidationException("METRICS takes an optional 'prefix' string")
        prefix = args[0][1]
    return _array([ctx.resolve(i) for i in ctx.metric_ids if i.startswith(prefix)])


def _search(ctx: Context, args: list[Arg]) -> Value:
    if len(args) != 3 or not isinstance(args[0], tuple) or not isinstance(args[1], tuple) or not isinstance(args[2], float):
        raise ValidationException("SEARCH takes ('search expression', 'Statistic', Period)")
    period = int(args[2])
    matches = search(ctx, args[0][1])
    out = []
    for metric, model_id in matches:
        buckets = samples_by_model(ctx.account, ctx.region, metric, {model_id}, ctx.start, ctx.end, period, need_values=True)
        points = {t: statistic(v, args[1][1]) for t, v in buckets.get(model_id, {}).items()}
        out.append(Series(points, period, model_id if len({m for m, _ in matches}) == 1 else f"{model_id} {metric}"))
    return out


FUNCTIONS: dict[str, Callable[[Context, list[Arg]], Value]] = {
    "SUM": _reducer(sum),
    "AVG": _reducer(lambda v: sum(v) / len(v)),
    "MIN": _reducer(min),
    "MAX": _reducer(max),
    "ABS": _pointwise(abs),
    "CEIL": _pointwise(lambda v: float(math.ceil(v))),
    "FLOOR": _pointwise(lambda v: float(math.floor(v))),
    "FILL": _fill,
    "METRICS": _metrics,
    "SEARCH": _search,
}


def evaluate(expression: str, ctx: Context) -> Value:
    if expression.lstrip().upper().startswith("SELECT"):
        raise ValidationException("A Metrics Insights query needs the query's Period (aipctl sim)")
    return _Parser(expression, ctx).parse()


# -- SEARCH --------------------------------------------------------------------------------------
_SCHEMA = re.compile(r"^\s*\{\s*([^}]*)\}\s*")
_TERM = re.compile(r"\s*(?:(?P<key>[A-Za-z]+)\s*=\s*(?P<value>\"[^\"]*\"|'[^']*'|[^\s()]+)|(?P<word>\"[^\"]*\"|[^\s()\"]+))")


def search(ctx: Context, text: str) -> list[tuple[str, str]]:
    """(metric name, ModelId) of the AWS/Bedrock metrics a search expression matches."""
    schema = _SCHEMA.match(text)
    rest = text
    if schema:
        parts = [p.strip().strip('"') for p in schema.group(1).split(",")]
        if parts[0] != NAMESPACE or any(p not in ("ModelId",) for p in parts[1:]):
            return []  # another namespace or dimension set: AWS/Bedrock has nothing there
        rest = text[schema.end() :]
    alternatives = [a for a in re.split(r"\s+OR\s+", rest.strip()) if a.strip()] or [""]
    candidates = [(metric, model) for model in model_ids(ctx.account, ctx.region) for metric in METRICS]
    return [c for c in candidates if any(_matches(c, alt) for alt in alternatives)]


def _matches(candidate: tuple[str, str], terms: str) -> bool:
    metric, model = candidate
    pos = 0
    terms = terms.replace(" AND ", " ")
    while pos < len(terms.strip()):
        found = _TERM.match(terms, pos)
        if not found or found.end() == pos:
            raise ValidationException(f"Unsupported search term '{terms[pos:].strip()}' (aipctl sim)")
        pos = found.end()
        if found.group("key"):
            key, value = found.group("key"), found.group("value").strip("\"'")
            if key == "MetricName" and value != metric:
                return False
            if key == "ModelId" and value != model:
                return False
            if key == "Namespace" and value != NAMESPACE:
                return False
            if key not in ("MetricName", "ModelId", "Namespace"):
                return False
        else:
            word = found.group("word").strip('"')
            if word.upper() in ("AND",):
                continue
            if word.upper() == "NOT":
                raise ValidationException("NOT in SEARCH expressions is not emulated (aipctl sim)")
            if word.lower() not in metric.lower() and word.lower() not in model.lower():
                return False
        if pos >= len(terms.rstrip()):
            break
    return True


# -- Metrics Insights ----------------------------------------------------------------------------
_SELECT = re.compile(
    r"""^\s*SELECT\s+(?P<fn>SUM|AVG|MIN|MAX|COUNT)\s*\(\s*"?(?P<metric>[A-Za-z0-9_]+)"?\s*\)\s+
    FROM\s+(?:"(?P<ns>[^"]+)"|SCHEMA\s*\(\s*"(?P<schema>[^"]+)"\s*(?P<dims>(?:,\s*"?[A-Za-z]+"?\s*)*)\))\s*
    (?:WHERE\s+(?P<where>.+?))?\s*
    (?:GROUP\s+BY\s+(?P<group>"?[A-Za-z]+"?))?\s*
    (?:ORDER\s+BY\s+(?P<order>SUM|AVG|MIN|MAX|COUNT)\s*\(\s*\)\s*(?P<dir>ASC|DESC)?)?\s*
    (?:LIMIT\s+(?P<limit>\d+))?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_CONDITION = re.compile(r"""^\s*"?(?P<key>[A-Za-z]+)"?\s*(?P<op>=|!=)\s*'(?P<value>[^']*)'\s*$""")
_INSIGHTS = {"SUM": "Sum", "AVG": "Average", "MIN": "Minimum", "MAX": "Maximum", "COUNT": "SampleCount"}


def insights(ctx: Context, query: str, period: int) -> list[Series] | Series:
    found = _SELECT.match(query)
    if not found:
        raise ValidationException(
            "Unsupported Metrics Insights query (aipctl sim emulates SELECT SUM|AVG|MIN|MAX|COUNT(metric) FROM "
            '"AWS/Bedrock" or SCHEMA("AWS/Bedrock", ModelId) [WHERE ModelId = \'…\'] [GROUP BY ModelId] '
            "[ORDER BY FUNC() ASC|DESC] [LIMIT n])"
        )
    namespace = found.group("ns") or found.group("schema")
    metric, stat = found.group("metric"), _INSIGHTS[found.group("fn").upper()]
    group = (found.group("group") or "").strip('"')
    if group and group != "ModelId":
        raise ValidationException(f"GROUP BY {group}: AWS/Bedrock metrics have only the ModelId dimension")
    models = model_ids(ctx.account, ctx.region) if namespace == NAMESPACE and metric in METRICS else []
    for condition in re.split(r"\s+AND\s+", found.group("where") or "", flags=re.IGNORECASE):
        if not condition.strip():
            continue
        parsed = _CONDITION.match(condition)
        if not parsed or parsed.group("key") != "ModelId":
            raise ValidationException(f"Unsupported WHERE condition '{condition.strip()}' (aipctl sim: ModelId = / != 'value')")
        keep = parsed.group("op") == "="
        models = [m for m in models if (m == parsed.group("value")) == keep]
    read = samples_by_model(ctx.account, ctx.region, metric, set(models), ctx.start, ctx.end, period, need_values=True)
    buckets = {model: _samples(per_model) for model, per_model in read.items()}
    if group:
        series = [Series({t: statistic(v, stat) for t, v in buckets[m].items()}, period, m) for m in sorted(buckets)]
        if found.group("order"):
            order = _INSIGHTS[found.group("order").upper()]
            series.sort(
                key=lambda s: statistic(sorted(x for v in buckets[s.label].values() for x in v), order),
                reverse=(found.group("dir") or "DESC").upper() == "DESC",
            )
        if found.group("limit"):
            series = series[: int(found.group("limit"))]
        return series
    merged: dict[float, list[float]] = {}
    for per_model in buckets.values():
        for t, values in per_model.items():
            merged.setdefault(t, []).extend(values)
    return Series({t: statistic(sorted(v), stat) for t, v in merged.items()}, period, metric)


def as_series(value: Value, ctx: Context, period: int) -> list[Series]:
    """A query's result as CloudWatch returns it: a scalar becomes a constant series over the window."""
    if isinstance(value, float):
        return [Series({t: value for t in grid(ctx, period)}, period)]
    return value if isinstance(value, list) else [value]


__all__ = ["Context", "Series", "as_series", "evaluate", "insights", "search"]
