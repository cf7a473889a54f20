"""Every key performance indicator, defined once (DOMAIN.md §8).

A figure is a ratio of two sums of per-case counters. The counters are Django aggregates over
the case table; the live query, the rollup rebuild and the tracing of a figure back to its
cases all use the conditions below, so they cannot drift apart.

The cohort of a period is the cases *reported* in it (按上报时间统计): "closed" in March means
"reported in March and closed since". Every case counts once, however often it was
transferred, returned or reopened; merged duplicates and voided reports are not filed.
Suspended (deferred, 缓办) cases leave the denominators of the closure rates, as DOMAIN.md
§8 has it: closure rate = closed ÷ (cases due − deferred).

The duty figures (source "duties": visits done ÷ due, patrol hours) are not counted from cases
but by insights/duties.py, from care-tag visits and the field app's patrols.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from civicgrid.cases.choices import OPEN, SlaState, Status

S = Status
NOT_FILED = (S.REPORTED, S.VOIDED, S.MERGED)
CLOSED = (S.CLOSED, S.EVALUATED)
SATISFIED_FROM = 4  # 4 (satisfied) and 5 (very satisfied) of the 1–5 rating

# The condition a case meets to count for each counter; `None`: every case of the cohort.
CONDITIONS: dict[str, Q | None] = {
    "reported": None,
    "filed": ~Q(status__in=NOT_FILED),
    "voided": Q(status=S.VOIDED),
    "merged": Q(status=S.MERGED),
    "dispatched": Q(dispatched_at__isnull=False),
    # Responded (响应): accepted within the accept limit (or accepted where none applied).
    "responded": Q(accepted_at__isnull=False)
    & (Q(accept_due__isnull=True) | Q(accepted_at__lte=F("accept_due"))),
    "closed": Q(status__in=CLOSED),
    "closed_on_time": Q(status__in=CLOSED, ever_overdue=False),
    "deferred": Q(status=S.SUSPENDED),
    "open": Q(status__in=OPEN),
    "overdue": Q(status__in=OPEN, sla_state=SlaState.RED),
    "returned": Q(return_count__gt=0),
    "reworked": Q(rework_count__gt=0),
    "self_resolved": Q(self_resolved=True),
    "handled": Q(handling_minutes__isnull=False),
    "evaluated": Q(satisfaction__isnull=False),
    "satisfied": Q(satisfaction__gte=SATISFIED_FROM),
}
# Counters that sum a case's value instead of counting cases (the case meets the condition of
# the counter named here).
SUMS: dict[str, tuple[str, str]] = {"handling_minutes": ("handling_minutes", "handled")}
COUNTERS: tuple[str, ...] = (*CONDITIONS, *SUMS)


def aggregates() -> dict[str, Any]:
    """The counters as aggregates over a queryset of cases (one GROUP BY computes them all)."""
    out: dict[str, Any] = {}
    for name, condition in CONDITIONS.items():
        out[name] = Count("pk") if condition is None else Count("pk", filter=condition)
    for name, (field, _counter) in SUMS.items():
        out[name] = Coalesce(Sum(field), 0)
    return out


def condition(counter: str) -> Q:
    """The cases a counter counts (for tracing a figure back to them)."""
    if counter in SUMS:
        counter = SUMS[counter][1]
    found = CONDITIONS[counter]
    return Q() if found is None else found


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str | Promise
    kind: str  # "count" | "rate" | "hours" | "index"
    numerator: tuple[str, ...]  # counters (or, for "index", KPI keys with weights below)
    denominator: tuple[str, ...] = ()  # a leading "-" subtracts the counter
    better: str = "higher"
    help: str | Promise = ""
    weights: tuple[float, ...] = ()
    source: str = "cases"  # "cases" (counters above) or "duties" (registry and fieldwork)

    @property
    def is_rate(self) -> bool:
        return self.kind in {"rate", "index"}


def _k(*args: Any, **kwargs: Any) -> Kpi:
    return Kpi(*args, **kwargs)


CASES_DUE = ("filed", "-deferred")
# The published weighting of the hotline's three rates (response / resolution / satisfaction).
THREE_RATES_WEIGHTS = (0.30, 0.35, 0.35)

KPIS: dict[str, Kpi] = {
    k.key: k
    for k in [
        _k("reported", _("cases reported"), "count", ("reported",)),
        _k("filed", _("cases filed"), "count", ("filed",)),
        _k("closed", _("cases closed"), "count", ("closed",)),
        _k("open", _("cases open"), "count", ("open",), better="lower"),
        _k("overdue", _("cases overdue"), "count", ("overdue",), better="lower"),
        _k(
            "closure_rate",
            _("closure rate"),
            "rate",
            ("closed",),
            CASES_DUE,
            help=_("closed ÷ (filed − deferred)"),
        ),
        _k(
            "on_time_rate",
            _("on-time closure rate"),
            "rate",
            ("closed_on_time",),
            CASES_DUE,
            help=_("closed without any stage running overdue ÷ (filed − deferred)"),
        ),
        _k(
            "return_rate",
            _("return rate"),
            "rate",
            ("returned",),
            ("dispatched",),
            better="lower",
            help=_("dispatched cases returned at least once ÷ dispatched"),
        ),
        _k(
            "rework_rate",
            _("rework rate"),
            "rate",
            ("reworked",),
            ("filed",),
            better="lower",
            help=_("filed cases that failed an on-site check at least once ÷ filed"),
        ),
        _k(
            "self_resolution_rate",
            _("self-resolution rate"),
            "rate",
            ("self_resolved",),
            ("filed",),
            help=_("resolved on the spot by the grid worker ÷ filed"),
        ),
        _k(
            "avg_handling_hours",
            _("average handling time (working hours)"),
            "hours",
            ("handling_minutes",),
            ("handled",),
            better="lower",
            help=_("working time from dispatch to the report back, less suspensions"),
        ),
        _k(
            "satisfaction_rate",
            _("satisfaction rate"),
            "rate",
            ("satisfied",),
            ("evaluated",),
            help=_("rated satisfied or very satisfied ÷ rated"),
        ),
        _k(
            "response_rate",
            _("response rate"),
            "rate",
            ("responded",),
            ("dispatched",),
            help=_("accepted within the accept limit ÷ dispatched"),
        ),
        _k(
            "resolution_rate",
            _("resolution rate"),
            "rate",
            ("closed",),
            CASES_DUE,
            help=_("closed ÷ (filed − deferred)"),
        ),
        _k(
            "three_rates",
            _("three rates (composite)"),
            "index",
            ("response_rate", "resolution_rate", "satisfaction_rate"),
            weights=THREE_RATES_WEIGHTS,
            help=_("weighted: response 0.30 + resolution 0.35 + satisfaction 0.35"),
        ),
        _k(
            "visits_rate",
            _("visits done ÷ due"),
            "rate",
            ("visits_done",),
            ("visits_due",),
            source="duties",
            help=_("care-group visits recorded ÷ visits their intervals call for"),
        ),
        _k(
            "patrol_hours",
            _("patrol hours"),
            "hours",
            ("patrol_minutes",),
            source="duties",
            help=_("hours of the patrols started in the period (the field app)"),
        ),
    ]
}


def _sum(counters: Mapping[str, float], terms: tuple[str, ...]) -> float:
    total = 0.0
    for term in terms:
        if term.startswith("-"):
            total -= counters.get(term[1:], 0) or 0
        else:
            total += counters.get(term, 0) or 0
    return total


def value(
    kpi: Kpi, counters: Mapping[str, float], known: Mapping[str, float | None]
) -> float | None:
    """One KPI from counters; None when it cannot be computed (no denominator, no data)."""
    if kpi.kind == "index":
        parts = [known.get(key) for key in kpi.numerator]
        total = 0.0
        for weight, part in zip(kpi.weights, parts, strict=True):
            if part is None:
                return None
            total += weight * part
        return total
    if any(term.lstrip("-") not in counters for term in kpi.numerator + kpi.denominator):
        return None  # e.g. patrol hours where the field app has recorded no patrol
    numerator = _sum(counters, kpi.numerator)
    if not kpi.denominator:
        return numerator / 60 if kpi.kind == "hours" else numerator
    denominator = _sum(counters, kpi.denominator)
    if denominator <= 0:
        return None
    ratio = numerator / denominator
    return ratio / 60 if kpi.kind == "hours" else ratio


def values(counters: Mapping[str, float]) -> dict[str, float | None]:
    """Every KPI from a set of counters (indices after the rates they combine)."""
    out: dict[str, float | None] = {}
    for kpi in sorted(KPIS.values(), key=lambda k: k.kind == "index"):
        out[kpi.key] = value(kpi, counters, out)
    return {key: out[key] for key in KPIS}


def empty() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)
