"""Assessment pages (检查考核): scorecard templates, monthly runs with their ranking and red and
black lists, and each score with the cases behind it.

Everyone whose roles include figures sees the scorecards of their own subtree (grid leaders,
centre staff, leaders); centre staff change them. Every table downloads as Excel with
`?export=<table>`, built from the same rows the page shows.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civicgrid.accounts.roles import DataClass
from civicgrid.cases.models import Case
from civicgrid.core.exceptions import Conflict
from civicgrid.core.scoping import Action, can, reaches
from civicgrid.web.typing import AuthedRequest

from .. import actions
from ..kpis import KPIS
from ..models import Score, ScorecardRun, ScorecardTemplate, ScoreCase
from ..models.scorecards import IndicatorKind, SubjectKind
from ..scorecard_forms import (
    IndicatorFormSet,
    RunForm,
    TemplateForm,
    indicator_initial,
    measure_label,
    template_initial,
)
from ..tables import xlsx_response
from . import display, require_insights

PAGE_SIZE = 50
NUMBERS = ("weight", "penalty", "per_event", "cap")


# --- reading ----------------------------------------------------------------------------------
def _templates(user: Any) -> QuerySet[ScorecardTemplate]:
    return ScorecardTemplate.objects.restrict(user, Action.VIEW).select_related("area")


def _runs(user: Any) -> QuerySet[ScorecardRun]:
    return ScorecardRun.objects.restrict(user, Action.VIEW).select_related(
        "template", "template__area", "published_by"
    )


def _template(request: AuthedRequest, pk: int) -> ScorecardTemplate:
    require_insights(request.user)
    return get_object_or_404(_templates(request.user), pk=pk)


def _run(request: AuthedRequest, pk: int) -> ScorecardRun:
    require_insights(request.user)
    return get_object_or_404(_runs(request.user), pk=pk)


def _may_change(user: Any, obj: ScorecardTemplate | ScorecardRun | None = None) -> bool:
    if obj is None:
        return reaches(user, DataClass.INSIGHTS, Action.CHANGE)
    return can(user, obj, Action.CHANGE)


def _require_change(user: Any, obj: ScorecardTemplate | ScorecardRun | None = None) -> None:
    if not _may_change(user, obj):
        raise PermissionDenied(_("Your roles do not allow changing scorecards."))


def _crumbs(*more: tuple[str, str]) -> list[dict[str, str]]:
    items = [(_("Insights"), reverse("insights:dashboard")), (_("Assessment"), "")]
    if more:
        items[-1] = (_("Assessment"), reverse("insights:scorecards"))
    return [{"name": n, "url": u} for n, u in [*items, *more]]


def _subject_text(template: ScorecardTemplate | None, rules: dict[str, Any] | None = None) -> str:
    subject = (rules or {}).get("subject") or (template.subject if template else "")
    level = (rules or {}).get("level") if rules else (template.level if template else None)
    text = str(SubjectKind(subject).label) if subject in SubjectKind.values else subject
    if subject == SubjectKind.REGION and level:
        from civicgrid.geo.choices import Level

        text = f"{text} · {Level(level).label}"
    return text


def _num(value: Any) -> str:
    """A stored decimal as people write it: 50, 0.2, 1.5 (not 50.00)."""
    from decimal import Decimal, InvalidOperation

    try:
        return format(Decimal(str(value)).normalize(), "f")
    except (InvalidOperation, ValueError):
        return str(value)


def _rule_text(rule: dict[str, Any]) -> str:
    """An indicator in words, as a scoresheet states it."""
    from decimal import Decimal

    rule = {k: (_num(v) if k in NUMBERS and v not in (None, "") else v) for k, v in rule.items()}
    kind, key = rule.get("kind"), str(rule.get("kpi"))
    if kind == IndicatorKind.DEDUCTION:
        text = _("%(points)s off per %(event)s") % {
            "points": rule.get("per_event"),
            "event": measure_label(kind, key),
        }
        if rule.get("cap") not in (None, ""):
            text += " " + _("(at most %(cap)s)") % {"cap": rule["cap"]}
        return text
    kpi = KPIS.get(key)
    target = rule.get("target")
    if target in (None, ""):
        if kpi is not None and kpi.better == "lower":
            return _("%(points)s points × (1 − rate)") % {"points": rule.get("weight")}
        return _("%(points)s points × rate") % {"points": rule.get("weight")}
    shown = display(kpi, float(Decimal(str(target)))) if kpi is not None else str(target)
    unit = _("percentage point") if kpi is not None and kpi.is_rate else _("unit")
    if kpi is not None and kpi.better == "lower":
        words = _("%(points)s points at or below %(target)s, %(penalty)s off per %(unit)s above")
    else:
        words = _("%(points)s points at or above %(target)s, %(penalty)s off per %(unit)s below")
    return words % {
        "points": rule.get("weight"),
        "target": shown,
        "penalty": rule.get("penalty"),
        "unit": unit,
    }


def _indicator_rows(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "key": r.get("kpi"),
            "kind": r.get("kind"),
            "label": measure_label(str(r.get("kind")), str(r.get("kpi"))),
            "text": _rule_text(r),
            "weight": r.get("weight"),
        }
        for r in rules
    ]


def _template_rules(template: ScorecardTemplate) -> list[dict[str, Any]]:
    return [r.as_json() for r in actions.rules_of(template)]


# --- the list ---------------------------------------------------------------------------------
@login_required
def scorecards(request: AuthedRequest) -> HttpResponse:
    user = request.user
    require_insights(user)
    templates = list(_templates(user).prefetch_related("indicators"))
    runs = _runs(user)
    month = request.GET.get("month", "").strip()
    errors: dict[str, str] = {}
    if month:
        try:
            runs = runs.filter(month=actions.parse_month(month))
        except ValidationError as exc:
            errors = {k: " ".join(v) for k, v in exc.message_dict.items()}
    if request.GET.get("export") == "runs":
        return xlsx_response(
            _("scorecard runs"),
            [_("Scorecard"), _("Month"), _("Status"), _("Subjects"), _("Computed at")],
            (
                [r.template.name, r.month_label, r.get_status_display(), r.n, r.computed_at]  # type: ignore[attr-defined]
                for r in _with_counts(runs)
            ),
        )
    page = Paginator(_with_counts(runs), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "insights/scorecard_list.html",
        {
            "templates": [
                {"t": t, "subject": _subject_text(t), "points": t.full_points} for t in templates
            ],
            "page_obj": page,
            "month": month,
            "errors": errors,
            "may_change": _may_change(user),
            "crumbs": _crumbs(),
        },
    )


def _with_counts(runs: QuerySet[ScorecardRun]) -> QuerySet[ScorecardRun]:
    from django.db.models import Count

    return runs.annotate(n=Count("scores")).order_by("-month", "template__name")


# --- templates --------------------------------------------------------------------------------
def _form_page(
    request: AuthedRequest,
    form: TemplateForm,
    formset: Any,
    *,
    title: str,
    template: ScorecardTemplate | None,
    status: int = 200,
) -> HttpResponse:
    back = (
        reverse("insights:scorecard", args=[template.pk])
        if template
        else reverse("insights:scorecards")
    )
    return render(
        request,
        "insights/scorecard_form.html",
        {
            "form": form,
            "formset": formset,
            "title": title,
            "obj": template,
            "cancel_url": back,
            "crumbs": _crumbs((title, "")),
        },
        status=status,
    )


def _indicator_errors(form: TemplateForm, formset: Any, exc: ValidationError) -> None:
    positions = [i for i, sub in enumerate(formset.forms) if sub.indicator() is not None]
    for name, messages_ in exc.message_dict.items():
        parts = name.split(".")
        if parts[0] == "indicators" and len(parts) == 3 and parts[1].isdigit():
            index = int(parts[1])
            if index < len(positions):
                sub = formset.forms[positions[index]]
                field = parts[2] if parts[2] in sub.fields else None
                for message in messages_:
                    sub.add_error(field, message)
                continue
        target = name if name in form.fields else None
        for message in messages_:
            form.add_error(target, message)


def _write(
    request: AuthedRequest, form: TemplateForm, formset: Any, write: Any
) -> tuple[ScorecardTemplate | None, int]:
    rows = [r for r in (sub.indicator() for sub in formset.forms) if r is not None]
    try:
        return write(form.template_data(), rows), 200
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            _indicator_errors(form, formset, exc)
        else:
            for message in exc.messages:
                form.add_error(None, message)
        return None, 200
    except Conflict as exc:
        form.add_error(None, exc.message)
        return None, 409


@login_required
def scorecard_new(request: AuthedRequest) -> HttpResponse:
    user = request.user
    require_insights(user)
    _require_change(user)
    initial: dict[str, Any] = {}
    from ..query import areas_for

    areas = areas_for(user)
    if areas:
        initial = {"area": areas[0].code, "subject": SubjectKind.REGION}
    form = TemplateForm(request.POST or None, user=user, initial=initial)
    formset = IndicatorFormSet(request.POST or None, prefix="ind")
    status = 200
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        created, status = _write(
            request,
            form,
            formset,
            lambda data, rows: actions.do_create_template(actor=user, data=data, indicators=rows),
        )
        if created is not None:
            messages.success(request, _("Scorecard saved."))
            return redirect("insights:scorecard", created.pk)
    return _form_page(
        request, form, formset, title=_("New scorecard"), template=None, status=status
    )


@login_required
def scorecard_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    user = request.user
    template = _template(request, pk)
    _require_change(user, template)
    form = TemplateForm(request.POST or None, user=user, initial=template_initial(template))
    # Bound, the rows are what was sent: compared with the stored ones, unchanged rows would
    # count as blank and drop out.
    formset = IndicatorFormSet(
        request.POST or None,
        prefix="ind",
        initial=None if request.method == "POST" else indicator_initial(template),
    )
    status = 200
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        saved, status = _write(
            request,
            form,
            formset,
            lambda data, rows: actions.do_update_template(
                template,
                actor=user,
                version=form.cleaned_data.get("version"),
                data=data,
                indicators=rows,
            ),
        )
        if saved is not None:
            messages.success(request, _("Scorecard saved."))
            return redirect("insights:scorecard", saved.pk)
    return _form_page(
        request,
        form,
        formset,
        title=_("Edit scorecard: %(name)s") % {"name": template.name},
        template=template,
        status=status,
    )


@login_required
def scorecard(request: AuthedRequest, pk: int) -> HttpResponse:
    """A template: its indicators, its runs, and running a month."""
    user = request.user
    template = _template(request, pk)
    runs = _with_counts(template.runs.all())
    if request.GET.get("export") == "runs":
        return xlsx_response(
            f"{template.name}",
            [_("Month"), _("Status"), _("Subjects"), _("Computed at"), _("Published at")],
            (
                [r.month_label, r.get_status_display(), r.n, r.computed_at, r.published_at]  # type: ignore[attr-defined]
                for r in runs
            ),
        )
    previous = actions.previous_month(actions.current_month())
    return render(
        request,
        "insights/scorecard_template.html",
        {
            "t": template,
            "subject": _subject_text(template),
            "indicators": _indicator_rows(_template_rules(template)),
            "points": template.full_points,
            "runs": runs,
            "run_form": RunForm(initial={"month": f"{previous:%Y-%m}"}),
            "may_change": _may_change(user, template),
            "crumbs": _crumbs((template.name, "")),
        },
    )


@login_required
@require_POST
def scorecard_run(request: AuthedRequest, pk: int) -> HttpResponse:
    """Compute (or recompute) a month's draft."""
    user = request.user
    template = _template(request, pk)
    _require_change(user, template)
    form = RunForm(request.POST)
    back = reverse("insights:scorecard", args=[template.pk])
    if not form.is_valid():
        messages.error(request, _("Choose a month."))
        return redirect(back)
    try:
        run = actions.do_run_scorecard(template, form.cleaned_data["month"], actor=user)
    except ValidationError as exc:
        text = " ".join(m for ms in exc.message_dict.values() for m in ms)
        messages.error(request, text)
        return redirect(back)
    except Conflict as exc:
        messages.error(request, exc.message)
        existing = ScorecardRun.objects.filter(
            template=template, month=actions.parse_month(form.cleaned_data["month"])
        ).first()
        response = redirect("insights:scorecard-run", existing.pk) if existing else redirect(back)
        response.status_code = 303
        return response
    messages.success(request, _("The draft is computed."))
    return redirect("insights:scorecard-run", run.pk)


# --- runs -------------------------------------------------------------------------------------
def _score_rows(run: ScorecardRun, scores: list[Score]) -> list[dict[str, Any]]:
    rows = []
    for s in scores:
        cells = []
        for line in s.details:
            kpi = KPIS.get(str(line.get("kpi")))
            if line.get("kind") == IndicatorKind.DEDUCTION:
                value = str(line.get("events") or 0)
                earned = -float(line.get("deduction") or 0)
            else:
                value = display(kpi, line.get("value")) if kpi else str(line.get("value"))
                earned = float(line.get("points") or 0)
            cells.append({"kpi": line.get("kpi"), "value": value, "points": earned})
        rows.append(
            {"s": s, "cells": cells, "url": reverse("insights:scorecard-score", args=[s.pk])}
        )
    return rows


def _table_export(run: ScorecardRun, name: str, rows: list[dict[str, Any]]) -> HttpResponse:
    rules = run.rules.get("indicators", [])
    header = [_("Rank"), _("Subject"), _("Score")]
    for r in rules:
        label = measure_label(str(r.get("kind")), str(r.get("kpi")))
        header += [label, f"{label} · {_('points')}"]
    body = []
    for row in rows:
        line = [row["s"].rank, row["s"].label, float(row["s"].total)]
        for cell in row["cells"]:
            line += [cell["value"], cell["points"]]
        body.append(line)
    titles = {"ranking": _("ranking"), "red": _("red list"), "black": _("black list")}
    return xlsx_response(f"{run.template.name} {run.month_label} {titles[name]}", header, body)


@login_required
def run_page(request: AuthedRequest, pk: int) -> HttpResponse:
    user = request.user
    run = _run(request, pk)
    scores = list(run.scores.order_by("rank", "label"))
    red, black = actions_lists(run, scores)
    tables = {
        "ranking": _score_rows(run, scores),
        "red": _score_rows(run, red),
        "black": _score_rows(run, black),
    }
    wanted = request.GET.get("export", "")
    if wanted:
        if wanted not in tables:
            raise Http404
        return _table_export(run, wanted, tables[wanted])
    rules = run.rules.get("indicators", [])
    return render(
        request,
        "insights/scorecard_run.html",
        {
            "run": run,
            "t": run.template,
            "subject": _subject_text(run.template, run.rules),
            "indicators": _indicator_rows(rules),
            "tables": tables,
            "list_size": run.rules.get("list_size", 0),
            "may_change": _may_change(user, run) and not run.is_published,
            "crumbs": _crumbs(
                (run.template.name, reverse("insights:scorecard", args=[run.template_id])),
                (run.month_label, ""),
            ),
        },
    )


def actions_lists(run: ScorecardRun, scores: list[Score]) -> tuple[list[Score], list[Score]]:
    from ..scoring import red_and_black

    return red_and_black(scores, int(run.rules.get("list_size", 0) or 0))


@login_required
@require_POST
def run_publish(request: AuthedRequest, pk: int) -> HttpResponse:
    user = request.user
    run = _run(request, pk)
    _require_change(user, run)
    version = request.POST.get("version", "")
    try:
        actions.do_publish_run(run, actor=user, version=int(version) if version.isdigit() else None)
    except Conflict as exc:
        messages.error(request, exc.message)
        response = redirect("insights:scorecard-run", run.pk)
        return response
    messages.success(request, _("Published: the scores are frozen."))
    return redirect("insights:scorecard-run", run.pk)


# --- one score --------------------------------------------------------------------------------
def _live_cases(run: ScorecardRun, score: Score, kpi: str, user: Any) -> list[tuple[int, bool]]:
    """A draft's cases, read now (a draft has no frozen list)."""
    query = actions.kpi_query(run, run.month)
    found = actions.cases_of(query, kpi, score.subject_key)
    visible = set(
        Case.objects.filter(pk__in=list(found)).restrict(user).values_list("pk", flat=True)
    )
    return [(pk, counted) for pk, counted in found.items() if pk in visible]


@login_required
def score_page(request: AuthedRequest, pk: int) -> HttpResponse:
    user = request.user
    require_insights(user)
    score = get_object_or_404(
        Score.objects.restrict(user).select_related("run", "run__template"), pk=pk
    )
    run = score.run
    rules = [actions.scoring.Rule.from_json(r) for r in run.rules.get("indicators", [])]
    traced = []
    for rule in rules:
        for key in actions.traced_kpis(rule):
            if key not in traced:
                traced.append(key)
    kpi = request.GET.get("kpi") or (traced[0] if traced else "")
    if kpi and kpi not in traced:
        raise Http404
    if run.is_published:
        frozen = ScoreCase.objects.filter(score=score, kpi=kpi)
        pairs = list(frozen.values_list("case_id", "counted"))
    else:
        pairs = _live_cases(run, score, kpi, user) if kpi else []
    counted = dict(pairs)
    cases = (
        Case.objects.filter(pk__in=list(counted))
        .select_related("category")
        .order_by("reported_at", "pk")
    )
    lines = []
    for line in score.details:
        key = str(line.get("kpi"))
        k = KPIS.get(key)
        is_deduction = line.get("kind") == IndicatorKind.DEDUCTION
        lines.append(
            {
                "kpi": key,
                "label": measure_label(str(line.get("kind")), key),
                "value": str(line.get("events") or 0)
                if is_deduction
                else (display(k, line.get("value")) if k else line.get("value")),
                "target": ""
                if line.get("target") is None or k is None
                else display(k, line.get("target")),
                "weight": line.get("weight"),
                "points": line.get("points"),
                "deduction": line.get("deduction"),
                "deduct": is_deduction,
            }
        )
    export = request.GET.get("export", "")
    if export == "details":
        return xlsx_response(
            f"{score.label} {run.month_label}",
            [
                _("Indicator"),
                _("Value"),
                _("Target"),
                _("Full points"),
                _("Points"),
                _("Deduction"),
            ],
            (
                [x["label"], x["value"], x["target"], x["weight"], x["points"], x["deduction"]]
                for x in lines
            ),
        )
    if export == "cases":
        return xlsx_response(
            f"{score.label} {run.month_label} {kpi}",
            [_("Number"), _("Title"), _("Category"), _("Status"), _("Reported at"), _("Counted")],
            (
                [
                    c.number,
                    c.title,
                    str(c.category),
                    c.get_status_display(),
                    c.reported_at,
                    _("yes") if counted.get(c.pk) else _("no"),
                ]
                for c in cases.iterator()
            ),
        )
    elif export:
        raise Http404
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "insights/scorecard_score.html",
        {
            "score": score,
            "run": run,
            "lines": lines,
            "tabs": [{"kpi": k, "label": KPIS[k].label} for k in traced],
            "kpi": kpi,
            "page_obj": page,
            "counted": counted,
            "crumbs": _crumbs(
                (run.template.name, reverse("insights:scorecard", args=[run.template_id])),
                (run.month_label, reverse("insights:scorecard-run", args=[run.pk])),
                (score.label, ""),
            ),
        },
    )


__all__ = [
    "run_page",
    "run_publish",
    "score_page",
    "scorecard",
    "scorecard_edit",
    "scorecard_new",
    "scorecard_run",
    "scorecards",
]
