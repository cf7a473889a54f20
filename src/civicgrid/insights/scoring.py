"""The scoring formula of assessment (检查考核), free of the database so it can be checked by hand.

A target indicator scores a figure against a target: meeting it earns the full points, every
percentage point (for a rate) or unit (for a count or hours) short of it costs `penalty`
points, never below zero. "Short" follows the figure's direction: a return rate above its
target is short, an on-time closure rate below its target is short. Without a target a rate
earns its share of the points (90 % satisfaction of 20 points = 18; for a lower-is-better rate
the complement: a 10 % return rate of 10 points = 9).

A deduction indicator takes `per_event` points for each event a counter counts (0.2 per case
that failed a check), at most `cap`.

The total is the points less the deductions, never below zero. Ranks are competition ranks:
equal totals share a rank and the next rank skips (1, 1, 3).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal(0)


def money(value: Decimal | float | int) -> Decimal:
    """Points to two decimals, halves rounded up (the way a hand-written scoresheet rounds)."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _dec(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


@dataclass(frozen=True)
class Rule:
    """One indicator as applied in a run (stored in the run's `rules`, as strings)."""

    kind: str  # "target" | "deduction"
    kpi: str  # a KPI key (target) or a counter (deduction)
    weight: Decimal = ZERO
    target: Decimal | None = None
    penalty: Decimal = Decimal(1)
    per_event: Decimal = ZERO
    cap: Decimal | None = None
    when_empty: str = "full"  # "full" | "zero": a figure without a denominator

    def as_json(self) -> dict[str, Any]:
        return {k: (None if v is None else str(v)) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rule:
        return cls(
            kind=str(data["kind"]),
            kpi=str(data["kpi"]),
            weight=_dec(data.get("weight")) or ZERO,
            target=_dec(data.get("target")),
            penalty=_dec(data.get("penalty")) or ZERO,
            per_event=_dec(data.get("per_event")) or ZERO,
            cap=_dec(data.get("cap")),
            when_empty=str(data.get("when_empty") or "full"),
        )


@dataclass(frozen=True)
class Line:
    """The result of one indicator for one subject (kept in Score.details)."""

    kind: str
    kpi: str
    value: float | None
    target: float | None
    weight: float
    points: float
    deduction: float
    events: int | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def target_points(
    rule: Rule, value: float | None, *, is_rate: bool, better: str = "higher"
) -> Decimal:
    """Points a figure earns against its target (see the module docstring)."""
    weight = rule.weight
    if value is None:
        return money(weight if rule.when_empty == "full" else ZERO)
    actual = Decimal(str(value))
    if rule.target is None:
        if not is_rate:
            return money(weight)  # forms refuse this; a stored run stays readable anyway
        share = actual if better == "higher" else 1 - actual
        return money(weight * min(Decimal(1), max(ZERO, share)))
    short = rule.target - actual if better == "higher" else actual - rule.target
    if is_rate:
        short *= 100  # percentage points
    if short <= 0:
        return money(weight)
    return money(max(ZERO, weight - rule.penalty * short))


def deduction(rule: Rule, events: int) -> Decimal:
    """Points a counted event costs, at most the cap."""
    taken = rule.per_event * max(0, int(events))
    if rule.cap is not None:
        taken = min(taken, rule.cap)
    return money(taken)


def score(
    rules: Sequence[Rule],
    counters: Mapping[str, float],
    values: Mapping[str, float | None],
) -> tuple[Decimal, list[Line]]:
    """A subject's total and its lines, from its counters and KPI values."""
    from .kpis import KPIS

    lines: list[Line] = []
    total = ZERO
    for rule in rules:
        if rule.kind == "deduction":
            events = int(counters.get(rule.kpi, 0) or 0)
            taken = deduction(rule, events)
            total -= taken
            lines.append(
                Line(
                    kind=rule.kind,
                    kpi=rule.kpi,
                    value=float(events),
                    target=None,
                    weight=0.0,
                    points=0.0,
                    deduction=float(taken),
                    events=events,
                )
            )
            continue
        kpi = KPIS.get(rule.kpi)
        value = values.get(rule.kpi)
        points = target_points(
            rule,
            value,
            is_rate=kpi.is_rate if kpi is not None else True,
            better=kpi.better if kpi is not None else "higher",
        )
        total += points
        lines.append(
            Line(
                kind=rule.kind,
                kpi=rule.kpi,
                value=value,
                target=None if rule.target is None else float(rule.target),
                weight=float(rule.weight),
                points=float(points),
                deduction=0.0,
            )
        )
    return money(max(ZERO, total)), lines


def ranks(totals: Sequence[Decimal]) -> list[tuple[int, int]]:
    """(rank from the top, rank from the bottom) for each total; ties share both."""
    ordered = sorted(totals)
    n = len(ordered)
    return [(n - bisect_right(ordered, t) + 1, bisect_left(ordered, t) + 1) for t in totals]


def red_and_black(ranked: Sequence[Any], size: int) -> tuple[list[Any], list[Any]]:
    """The red list (rank ≤ n from the top) and the black list (rank ≤ n from the bottom), of
    objects with `rank` and `rank_from_bottom`; ties share a place, so a list can be longer.
    n is the template's size, but at most half the subjects: with three townships and lists of
    three, the best is praised and the worst named, not all three praised. A subject on the
    red list is never also on the black one (when everyone ties, nobody is named worst)."""
    size = min(size, len(ranked) // 2)
    if size <= 0:
        return [], []
    red = [s for s in ranked if s.rank <= size]
    named = {id(s) for s in red}
    black = sorted(
        (s for s in ranked if s.rank_from_bottom <= size and id(s) not in named),
        key=lambda s: s.rank_from_bottom,
    )
    return red, black
