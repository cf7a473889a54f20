"""Every write of assessment (ARCHITECTURE rule 1): scorecard templates, monthly runs and their
publication. One transaction and one audit row each.

Figures come from `query.figures` as the system (user None): a run ranks every subject of the
template's area whatever the scope of the person pressing the button, who must only be allowed
to change insights there. Figures are computed before the transaction opens, so a long live
query never holds the database's write lock; the transaction then checks that nobody published
or re-ran the run in the meantime.

Publishing recomputes the run and stores, with each score, the cases behind every indicator.
Score and cases therefore come from one reading of the data: a draft computed on the 1st and
published on the 5th would otherwise quote totals its own case lists contradict (cases keep
moving after their month ends). After publishing nothing about the run changes again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from civicgrid.accounts.models import Unit, User
from civicgrid.accounts.roles import DataClass
from civicgrid.core.audit import record_change, snapshot
from civicgrid.core.exceptions import Conflict
from civicgrid.core.models import ChangeKind
from civicgrid.core.paths import subtree_q
from civicgrid.core.scoping import Action, can
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division

from . import kpis, scoring
from .models import Indicator, Score, ScorecardRun, ScorecardTemplate, ScoreCase
from .models.scorecards import EmptyRule, IndicatorKind, RunStatus, SubjectKind

MAX_INDICATORS = 20
MAX_LIST_SIZE = 50
TEMPLATE_FIELDS = ("name", "subject", "area", "level", "list_size", "is_active", "description")
# The query group that lists each kind of subject.
GROUP_OF = {SubjectKind.REGION: "child", SubjectKind.UNIT: "unit", SubjectKind.POST: "worker"}


# --- months -----------------------------------------------------------------------------------
def parse_month(value: Any, *, field: str = "month") -> dt.date:
    """ "2026-03" (or a date in that month) → 2026-03-01; anything else names `field`."""
    if isinstance(value, dt.date):
        return value.replace(day=1)
    text = str(value or "").strip()
    try:
        if len(text) == 7:
            return dt.date.fromisoformat(text + "-01")
        return dt.date.fromisoformat(text).replace(day=1)
    except ValueError:
        raise ValidationError(
            {field: _("“%(value)s” is not a month: write YYYY-MM, e.g. 2026-03.") % {"value": text}}
        ) from None


def current_month(now: dt.datetime | None = None) -> dt.date:
    return timezone.localdate(now or timezone.now()).replace(day=1)


def previous_month(month: dt.date) -> dt.date:
    return (month - dt.timedelta(days=1)).replace(day=1)


# --- permission -------------------------------------------------------------------------------
def _require_change(actor: Any, obj: ScorecardTemplate | ScorecardRun) -> None:
    """The system (actor None) may do anything; a person must change insights in the area."""
    if actor is not None and not can(actor, obj, Action.CHANGE):
        raise PermissionDenied(_("Your roles do not allow assessment in this area."))


def _require_area(actor: Any, area: Division) -> None:
    if actor is None:
        return
    paths = actor.scope_paths(DataClass.INSIGHTS, Action.CHANGE)
    if paths is not None and not any(area.path.startswith(p) for p in paths):
        raise ValidationError({"area": _("This area is outside the area you assess.")})


# --- cleaning ---------------------------------------------------------------------------------
def _decimal(
    value: Any, errors: dict[str, str], key: str, *, low: Decimal, high: Decimal
) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        errors[key] = _("Not a number.")
        return None
    if not number.is_finite() or not low <= number <= high:
        errors[key] = _("Must lie between %(low)s and %(high)s.") % {"low": low, "high": high}
        return None
    return number


def clean_indicators(rows: Sequence[Mapping[str, Any]]) -> list[scoring.Rule]:
    """Indicators from submitted rows; errors name `indicators.N.field` (N from 0)."""
    errors: dict[str, str] = {}
    rules: list[scoring.Rule] = []
    if not rows:
        raise ValidationError({"indicators": _("A scorecard needs at least one indicator.")})
    if len(rows) > MAX_INDICATORS:
        raise ValidationError(
            {"indicators": _("At most %(n)d indicators.") % {"n": MAX_INDICATORS}}
        )
    for i, row in enumerate(rows):
        at = f"indicators.{i}."
        kind = str(row.get("kind") or IndicatorKind.TARGET)
        key = str(row.get("kpi") or "").strip()
        if kind not in IndicatorKind.values:
            errors[at + "kind"] = _("Unknown kind of indicator.")
            continue
        weight = _decimal(
            row.get("weight"), errors, at + "weight", low=Decimal(0), high=Decimal(1000)
        )
        target = _decimal(
            row.get("target"), errors, at + "target", low=Decimal(-999999), high=Decimal(999999)
        )
        penalty = _decimal(
            row.get("penalty"), errors, at + "penalty", low=Decimal(0), high=Decimal(1000)
        )
        per_event = _decimal(
            row.get("per_event"), errors, at + "per_event", low=Decimal(0), high=Decimal(1000)
        )
        cap = _decimal(row.get("cap"), errors, at + "cap", low=Decimal(0), high=Decimal(1000))
        when_empty = str(row.get("when_empty") or EmptyRule.FULL)
        if when_empty not in EmptyRule.values:
            errors[at + "when_empty"] = _("Choose full points or no points.")
        if kind == IndicatorKind.TARGET:
            kpi = kpis.KPIS.get(key)
            if kpi is None:
                errors[at + "kpi"] = _("Choose a figure.")
                continue
            if not weight:
                errors.setdefault(at + "weight", _("Give the points this figure is worth."))
            if target is None and not kpi.is_rate:
                errors.setdefault(at + "target", _("A count or a time needs a target."))
            if target is not None and kpi.is_rate and not 0 <= target <= 1:
                errors.setdefault(at + "target", _("A rate's target is a fraction: 0.70 for 70 %."))
            per_event, cap = Decimal(0), None
        else:
            if key not in kpis.COUNTERS or key in kpis.SUMS:
                errors[at + "kpi"] = _("Choose a counter of cases.")
                continue
            if not per_event:
                errors.setdefault(at + "per_event", _("Give the points one event costs."))
            weight, target = Decimal(0), None
        rules.append(
            scoring.Rule(
                kind=kind,
                kpi=key,
                weight=weight or Decimal(0),
                target=target,
                penalty=Decimal(1) if penalty is None else penalty,
                per_event=per_event or Decimal(0),
                cap=cap,
                when_empty=when_empty,
            )
        )
    if errors:
        raise ValidationError(errors)
    return rules


def _clean_template(data: Mapping[str, Any], current: ScorecardTemplate | None) -> dict[str, Any]:
    def get(name: str) -> Any:
        if name in data:
            return data[name]
        return getattr(current, name) if current is not None else None

    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    name = str(get("name") or "").strip()
    if not name:
        errors["name"] = _("Name the scorecard.")
    elif len(name) > 100:
        errors["name"] = _("At most 100 characters.")
    values["name"] = name
    subject = str(get("subject") or "")
    if subject not in SubjectKind.values:
        errors["subject"] = _("Choose regions, handling units or grid workers.")
    values["subject"] = subject
    area = get("area")
    if not isinstance(area, Division) or not area.is_active:
        errors["area"] = _("Choose an active division.")
    values["area"] = area
    level = get("level")
    if subject == SubjectKind.REGION:
        try:
            level = int(level)
        except (TypeError, ValueError):
            level = None
        if level is None:
            errors["level"] = _("Choose the level of the regions to rank.")
        elif isinstance(area, Division) and not area.level < level <= Level.GRID:
            errors["level"] = _("The regions must lie below the area.")
        values["level"] = level
    else:
        values["level"] = None
    size = get("list_size")
    try:
        size = 3 if size in (None, "") else int(size)
    except (TypeError, ValueError):
        size = -1
    if not 0 <= size <= MAX_LIST_SIZE:
        errors["list_size"] = _("Between 0 and %(n)d.") % {"n": MAX_LIST_SIZE}
    values["list_size"] = size
    active = get("is_active")
    values["is_active"] = True if active is None else bool(active)
    values["description"] = str(get("description") or "")[:2000]
    if errors:
        raise ValidationError(errors)
    return values


def _write_indicators(template: ScorecardTemplate, rules: Sequence[scoring.Rule]) -> None:
    template.indicators.all().delete()
    Indicator.objects.bulk_create(
        Indicator(
            template=template,
            position=i,
            kind=r.kind,
            kpi=r.kpi,
            weight=r.weight,
            target=r.target,
            penalty=r.penalty,
            per_event=r.per_event,
            cap=r.cap,
            when_empty=r.when_empty,
        )
        for i, r in enumerate(rules)
    )


def rules_of(template: ScorecardTemplate) -> list[scoring.Rule]:
    return [
        scoring.Rule(
            kind=i.kind,
            kpi=i.kpi,
            weight=i.weight,
            target=i.target,
            penalty=i.penalty,
            per_event=i.per_event,
            cap=i.cap,
            when_empty=i.when_empty,
        )
        for i in template.indicators.all()
    ]


def _template_after(template: ScorecardTemplate) -> dict[str, Any]:
    data = snapshot(template)
    data["indicators"] = [r.as_json() for r in rules_of(template)]
    return data


def _name_taken(exc: IntegrityError) -> ValidationError:
    return ValidationError({"name": _("This area already has a scorecard of this name.")})


# --- templates --------------------------------------------------------------------------------
def do_create_template(
    *, actor: Any, data: Mapping[str, Any], indicators: Sequence[Mapping[str, Any]]
) -> ScorecardTemplate:
    values = _clean_template(data, None)
    _require_area(actor, values["area"])
    rules = clean_indicators(indicators)
    template = ScorecardTemplate(**values)
    try:
        with transaction.atomic():
            template.save()
            _write_indicators(template, rules)
            record_change(
                template,
                ChangeKind.CREATE,
                actor=actor,
                action="create",
                after=_template_after(template),
            )
    except IntegrityError as exc:
        raise _name_taken(exc) from exc
    return template


def do_update_template(
    template: ScorecardTemplate,
    *,
    actor: Any,
    version: int | None,
    data: Mapping[str, Any],
    indicators: Sequence[Mapping[str, Any]] | None = None,
) -> ScorecardTemplate:
    """Change a template (and, if given, replace its indicators). `version` is the one the
    person saw: a change by someone else since then is a conflict. Runs already made keep
    the rules they were computed with."""
    _require_change(actor, template)
    rules = clean_indicators(indicators) if indicators is not None else None
    try:
        with transaction.atomic():
            locked = ScorecardTemplate.objects.select_for_update().get(pk=template.pk)
            if version is not None and locked.version != version:
                raise Conflict(
                    _("Someone changed this scorecard in the meantime: reload it and try again."),
                    code="version",
                )
            before = _template_after(locked)
            values = _clean_template(data, locked)
            if values["area"].pk != locked.area_id:
                _require_area(actor, values["area"])
            for name, value in values.items():
                setattr(locked, name, value)
            if rules is not None:
                _write_indicators(locked, rules)
            after = _template_after(locked)
            if after == before:
                return locked
            locked.version += 1
            locked.save()
            after["version"] = locked.version
            record_change(
                locked, ChangeKind.UPDATE, actor=actor, action="update", before=before, after=after
            )
    except IntegrityError as exc:
        raise _name_taken(exc) from exc
    return locked


def do_delete_template(template: ScorecardTemplate, *, actor: Any) -> None:
    """Delete a template nobody has run yet; one with runs is history: deactivate it."""
    _require_change(actor, template)
    with transaction.atomic():
        locked = ScorecardTemplate.objects.select_for_update().get(pk=template.pk)
        if locked.runs.exists():
            raise Conflict(
                _("This scorecard has runs: deactivate it instead of deleting it."), code="runs"
            )
        before = _template_after(locked)
        record_change(locked, ChangeKind.DELETE, actor=actor, action="delete", before=before)
        locked.delete()


# --- computing --------------------------------------------------------------------------------
@dataclass
class Subject:
    key: str
    label: str
    counters: dict[str, int]
    values: dict[str, float | None]
    division: Division | None = None
    unit_id: int | None = None
    user_id: int | None = None


def kpi_query(template_or_run: ScorecardTemplate | ScorecardRun, month: dt.date) -> Any:
    """The query a run reads: the month over the template's area, grouped by subject."""
    from .query import KpiQuery, Period

    template = (
        template_or_run.template if isinstance(template_or_run, ScorecardRun) else template_or_run
    )
    return KpiQuery(
        area=template.area,
        period=Period.of("month", month),
        group=GROUP_OF[SubjectKind(template.subject)],
        level=template.level if template.subject == SubjectKind.REGION else None,
    )


def subjects(template: ScorecardTemplate, month: dt.date) -> tuple[list[Subject], str]:
    """Everyone a template ranks in a month, with their figures; and the figures' source.

    Regions are a fixed set: every active division of the level counts, with zeros where no
    case was reported. Units and grid workers count when they had cases in the month (the
    query's rows): one without any has nothing to be assessed on.
    """
    from .query import figures

    result = figures(None, kpi_query(template, month), compare=False)
    rows = {row.key: row for row in result.rows}
    out: list[Subject] = []
    if template.subject == SubjectKind.REGION:
        regions = Division.objects.filter(
            subtree_q("path", template.area.path), level=template.level, is_active=True
        ).order_by("path")
        for region in regions:
            row = rows.pop(region.path, None)
            counters = dict(row.counters) if row is not None else kpis.empty()
            values = dict(row.values) if row is not None else kpis.values(counters)
            out.append(Subject(region.path, region.name, counters, values, division=region))
        return out, result.source
    model = Unit if template.subject == SubjectKind.UNIT else User
    ids = [int(k) for k in rows if str(k).isdigit()]
    known = set(model.objects.filter(pk__in=ids).values_list("pk", flat=True))
    for key, row in rows.items():
        pk = int(key) if str(key).isdigit() else None
        if pk is None or pk not in known:
            continue  # cases nobody handled (no unit, no worker) rank nobody
        subject = Subject(str(key), row.label, dict(row.counters), dict(row.values))
        if model is Unit:
            subject.unit_id = pk
        else:
            subject.user_id = pk
        out.append(subject)
    out.sort(key=lambda s: s.label)
    return out, result.source


def compute(
    template: ScorecardTemplate, month: dt.date, rules: Sequence[scoring.Rule]
) -> tuple[list[Score], str]:
    """Unsaved scores, ranked."""
    found, source = subjects(template, month)
    scores = []
    for subject in found:
        total, lines = scoring.score(rules, subject.counters, subject.values)
        scores.append(
            Score(
                subject_key=subject.key,
                label=subject.label[:200],
                division=subject.division,
                unit_id=subject.unit_id,
                user_id=subject.user_id,
                total=total,
                counters=subject.counters,
                details=[line.as_json() for line in lines],
            )
        )
    for score, (rank, from_bottom) in zip(
        scores, scoring.ranks([s.total for s in scores]), strict=True
    ):
        score.rank, score.rank_from_bottom = rank, from_bottom
    scores.sort(key=lambda s: (s.rank, s.label))
    return scores, source


def _check_month(month: dt.date, now: dt.datetime | None = None) -> None:
    if month > current_month(now):
        raise ValidationError({"month": _("This month has not begun yet.")})


def _summary(
    run: ScorecardRun, scores: Sequence[Score], count: int | None = None
) -> dict[str, Any]:
    data = snapshot(run, ["template", "month", "status", "version", "computed_at"])
    data["scores"] = len(scores) if count is None else count
    data["top"] = [[s.label, str(s.total)] for s in scores[:3]]
    return data


SCORE_FIELDS = (
    "label",
    "division",
    "unit",
    "user",
    "total",
    "rank",
    "rank_from_bottom",
    "counters",
    "details",
)


def _replace_scores(run: ScorecardRun, scores: Sequence[Score]) -> dict[str, int]:
    """Write a run's new scores over its old ones, keeping each subject's row (and so the links
    to it) where the subject is still ranked. Returns {subject key: score id}."""
    old = {s.subject_key: s for s in Score.objects.filter(run=run)}
    fresh, changed = [], []
    for score in scores:
        score.run = run
        kept = old.pop(score.subject_key, None)
        if kept is None:
            fresh.append(score)
            continue
        for name in SCORE_FIELDS:
            setattr(kept, name, getattr(score, name))
        changed.append(kept)
    if old:
        Score.objects.filter(pk__in=[s.pk for s in old.values()]).delete()
    Score.objects.bulk_update(changed, SCORE_FIELDS, batch_size=500)
    Score.objects.bulk_create(fresh)
    return dict(Score.objects.filter(run=run).values_list("subject_key", "pk"))


def _previous(run: ScorecardRun) -> dict[str, Any]:
    return _summary(run, list(run.scores.order_by("rank", "label")[:3]), run.scores.count())


def do_run_scorecard(
    template: ScorecardTemplate, month: dt.date | str, *, actor: Any
) -> ScorecardRun:
    """Compute (or recompute) the draft run of a month. A published run is refused."""
    month = parse_month(month)
    _require_change(actor, template)
    _check_month(month)
    existing = ScorecardRun.objects.filter(template=template, month=month).first()
    if existing is not None and existing.is_published:
        raise Conflict(
            _("This month's scorecard is published and can no longer change."), code="published"
        )
    rules = rules_of(template)
    if not rules:
        raise ValidationError({"indicators": _("A scorecard needs at least one indicator.")})
    scores, source = compute(template, month, rules)
    now = timezone.now()
    try:
        with transaction.atomic():
            run = (
                ScorecardRun.objects.select_for_update()
                .filter(template=template, month=month)
                .first()
            )
            if run is not None and run.is_published:
                raise Conflict(
                    _("This month's scorecard is published and can no longer change."),
                    code="published",
                )
            if run is None:
                run = ScorecardRun(template=template, month=month)
                kind, before = ChangeKind.CREATE, None
            else:
                kind, before = ChangeKind.UPDATE, _previous(run)
                run.version += 1
            run.division_path = template.area.path
            run.rules = {
                "subject": template.subject,
                "level": template.level,
                "list_size": template.list_size,
                "name": template.name,
                "indicators": [r.as_json() for r in rules],
            }
            run.source = source
            run.computed_at = now
            run.save()
            _replace_scores(run, scores)
            record_change(
                run, kind, actor=actor, action="run", before=before, after=_summary(run, scores)
            )
    except IntegrityError as exc:  # another process created the same month's run first
        raise Conflict(
            _("This month's scorecard is being computed right now: try again shortly."),
            code="busy",
        ) from exc
    return run


def run_rules(run: ScorecardRun) -> list[scoring.Rule]:
    return [scoring.Rule.from_json(r) for r in run.rules.get("indicators", [])]


def traced_kpis(rule: scoring.Rule) -> list[str]:
    """The figures whose cases explain an indicator: the figure itself, the parts of a
    composite, or for a deduction the rate whose numerator is its counter."""
    if rule.kind == IndicatorKind.DEDUCTION:
        return [
            k.key
            for k in kpis.KPIS.values()
            if k.kind == "rate" and k.numerator == (rule.kpi,) and k.source == "cases"
        ][:1]
    kpi = kpis.KPIS.get(rule.kpi)
    if kpi is None or kpi.source != "cases":
        return []
    if kpi.kind == "index":
        return [k for k in kpi.numerator if k in kpis.KPIS]
    return [kpi.key]


def cases_of(query: Any, kpi_key: str, subject_key: str) -> dict[int, bool]:
    """{case id: counted in the numerator} for one figure of one subject."""
    from .query import cases_behind

    kpi = kpis.KPIS[kpi_key]
    counted = set(
        cases_behind(None, query, kpi_key, "numerator", subject_key).values_list("pk", flat=True)
    )
    if not kpi.denominator:
        return dict.fromkeys(counted, True)
    judged = set(
        cases_behind(None, query, kpi_key, "denominator", subject_key).values_list("pk", flat=True)
    )
    return {pk: pk in counted for pk in judged | counted}


def do_publish_run(run: ScorecardRun, *, actor: Any, version: int | None = None) -> ScorecardRun:
    """Publish a draft: recompute it with the rules it was drafted with, store with each score
    the cases behind it, and freeze it."""
    template = run.template
    _require_change(actor, run)
    if run.is_published:
        raise Conflict(_("This run is already published."), code="published")
    if version is not None and run.version != version:
        raise Conflict(
            _("Someone re-ran this scorecard in the meantime: reload it and try again."),
            code="version",
        )
    rules = run_rules(run)
    scores, source = compute(template, run.month, rules)
    query = kpi_query(template, run.month)
    traced = sorted({k for r in rules for k in traced_kpis(r)})
    behind = {s.subject_key: {k: cases_of(query, k, s.subject_key) for k in traced} for s in scores}
    with transaction.atomic():
        locked = ScorecardRun.objects.select_for_update().get(pk=run.pk)
        if locked.is_published:
            raise Conflict(_("This run is already published."), code="published")
        if version is not None and locked.version != version:
            raise Conflict(
                _("Someone re-ran this scorecard in the meantime: reload it and try again."),
                code="version",
            )
        before = _previous(locked)
        now = timezone.now()
        locked.status = RunStatus.PUBLISHED
        locked.source = source
        locked.computed_at = now
        locked.published_at = now
        locked.published_by = actor if getattr(actor, "pk", None) else None
        locked.version += 1
        locked.save()
        saved = _replace_scores(locked, scores)
        ScoreCase.objects.bulk_create(
            (
                ScoreCase(score_id=saved[key], case_id=pk, kpi=kpi, counted=counted)
                for key, figures in behind.items()
                for kpi, cases in figures.items()
                for pk, counted in cases.items()
            ),
            batch_size=2000,
        )
        after = _summary(locked, scores)
        after["published_at"] = now.isoformat()
        record_change(
            locked, ChangeKind.UPDATE, actor=actor, action="publish", before=before, after=after
        )
    return locked


# --- the monthly job --------------------------------------------------------------------------
def draft_month_runs(now: dt.datetime | None = None) -> list[ScorecardRun]:
    """Draft the previous month's run of every active template that has none yet (the task
    worker calls this every hour; a run that exists, draft or published, is left alone)."""
    month = previous_month(current_month(now))
    made = []
    templates = ScorecardTemplate.objects.filter(is_active=True).exclude(runs__month=month)
    for template in templates.select_related("area").order_by("pk"):
        if not template.area.is_active or not template.indicators.exists():
            continue
        try:
            made.append(do_run_scorecard(template, month, actor=None))
        except Conflict:
            continue  # another worker got there first
    return made


# --- demo defaults ----------------------------------------------------------------------------
def ensure_default_scorecards(city: Division) -> ScorecardTemplate:
    """The monthly assessment of township centres a city starts with (idempotent): on-time
    closure 50 points at 70 %, satisfaction 20 at 90 %, self-resolution 10 and return rate 10
    by share, 0.2 off per case that failed a check (at most 10)."""
    with translation.override(settings.LANGUAGE_CODE):  # stored text: the installation's
        return _default_township_template(city)


def _default_township_template(city: Division) -> ScorecardTemplate:
    name = _("Township centres: monthly assessment")
    existing = ScorecardTemplate.objects.filter(area=city, name=name).first()
    if existing is not None:
        return existing
    return do_create_template(
        actor=None,
        data={
            "name": name,
            "subject": SubjectKind.REGION,
            "area": city,
            "level": Level.TOWNSHIP,
            "list_size": 3,
            "description": _(
                "On-time closure 50 points (target 70 %, 1 point off per percentage point "
                "below), satisfaction 20 (target 90 %), self-resolution 10 and return rate 10 "
                "by share; 0.2 points off per case that failed a check, at most 10."
            ),
        },
        indicators=[
            {"kpi": "on_time_rate", "weight": 50, "target": "0.70", "penalty": 1},
            {"kpi": "satisfaction_rate", "weight": 20, "target": "0.90", "penalty": 1},
            {"kpi": "self_resolution_rate", "weight": 10},
            {"kpi": "return_rate", "weight": 10},
            {"kind": "deduction", "kpi": "reworked", "per_event": "0.2", "cap": 10},
        ],
    )
