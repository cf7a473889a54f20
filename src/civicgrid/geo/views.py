"""Pages for divisions and grids: browse the tree, the map, the sizing and coverage report,
imports. Every lookup starts from what the user may see; anything else is 404."""

from __future__ import annotations

import csv
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civicgrid.accounts.models import Unit
from civicgrid.core import jobs
from civicgrid.core.importing import ImportReport
from civicgrid.core.models import ImportJob
from civicgrid.core.paths import subtree_q
from civicgrid.core.scoping import Action, can, require
from civicgrid.web.forms import run_action

from . import actions, coverage, selectors
from .choices import GridKind, Level, Setting, SizingStatus
from .forms import ChildForm, DivisionNameForm, GridForm, ImportForm
from .models import CoverageCheck, CoverageIssue, Division
from .tasks import check_coverage


def visible_division(user: Any, pk: int) -> Division:
    return get_object_or_404(
        Division.objects.restrict(user, Action.VIEW).select_related("parent"), pk=pk
    )


def division_by_code(user: Any, code: str | None) -> Division | None:
    if not code:
        return None
    division = (
        Division.objects.restrict(user, Action.VIEW)
        .filter(code=code.strip(), is_active=True)
        .first()
    )
    if division is None:
        raise Http404(_("No division with this code in your area."))
    return division


def crumbs(user: Any, division: Division, url_name: str = "geo:division") -> list[dict[str, Any]]:
    """The path from the user's top visible division down to `division`."""
    chain = [d for d in [*division.ancestors(), division] if can(user, d)]
    if url_name == "geo:map":
        return [{"name": d.name, "url": f"{reverse('geo:map')}?under={d.code}"} for d in chain]
    return [{"name": d.name, "url": reverse(url_name, args=[d.pk])} for d in chain]


def _map_config(request: HttpRequest, division: Division | None) -> dict[str, Any]:
    crs = settings.MAP_TILE_CRS if settings.MAP_TILE_URL else "wgs84"
    query = urlencode({"crs": crs, **({"under": division.code} if division else {})})
    bbox = None
    if division is not None and division.min_lng is not None:
        bbox = [division.min_lng, division.min_lat, division.max_lng, division.max_lat]
    return {
        "geojson": f"{reverse('api:grid-geojson')}?{query}",
        "issues": f"{reverse('api:coverage-issue-list')}?{query}",
        "tile": {
            "url": settings.MAP_TILE_URL,
            "attribution": settings.MAP_TILE_ATTRIBUTION,
            "crs": crs,
        },
        "bbox": bbox,
        "gridUrl": reverse("geo:division", args=[0]),
        "labels": {
            "ok": str(SizingStatus.OK.label),
            "over": str(SizingStatus.OVER.label),
            "under": str(SizingStatus.UNDER.label),
            "exempt": str(SizingStatus.EXEMPT.label),
            "unknown": str(SizingStatus.UNKNOWN.label),
            "issue": _("gap or overlap"),
            "households": _("households"),
            "residents": _("residents"),
            "open": _("open"),
            "loading": _("Loading grids…"),
            "empty": _("No grid with a boundary here."),
            "failed": _("The grids could not be loaded."),
            "grids": _("grids"),
            "gap": _("gap"),
            "overlap": _("overlap"),
            "noBasemap": _("No basemap: grids are drawn as vector shapes (intranet mode)."),
        },
    }


@login_required
def map_page(request: HttpRequest) -> HttpResponse:
    roots = selectors.roots_for(request.user)
    division = division_by_code(request.user, request.GET.get("under"))
    if division is None and len(roots) >= 1:
        division = roots[0]
    if division is None:
        raise Http404(_("There is nothing in your area to show."))
    children = selectors.children_of(request.user, division).filter(level__lt=Level.GRID)
    return render(
        request,
        "geo/map.html",
        {
            "division": division,
            "children": children,
            "crumbs": crumbs(request.user, division, "geo:map"),
            "map_config": _map_config(request, division),
            "roots": roots,
        },
    )


@login_required
def divisions(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    roots = selectors.roots_for(request.user)
    if not query and len(roots) == 1:
        return redirect("geo:division", roots[0].pk)
    results = None
    if query:
        qs = Division.objects.restrict(request.user).filter(is_active=True)
        qs = (
            qs.filter(code__startswith=query)
            if query.isdigit()
            else qs.filter(name__contains=query)
        )
        results = qs.select_related("parent").order_by("path")[:200]
    return render(request, "geo/divisions.html", {"roots": roots, "results": results, "q": query})


def _child_rows(user: Any, division: Division) -> list[dict[str, Any]]:
    """Children with the number of grids, households and out-of-norm grids beneath each."""
    children = list(selectors.children_of(user, division))
    if not children:
        return []
    lengths = sorted({len(c.path) for c in children})
    by_path = {c.path: c for c in children}
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = (
        selectors.visible_grids(user)  # type: ignore[misc]  # annotated by with_sizing()
        .filter(subtree_q("division__path", division.path))
        .values_list("division__path", "households", "residents", "sizing")
    )
    for path, households, residents, sizing in rows:
        for length in lengths:
            if path[:length] in by_path:
                t = totals[path[:length]]
                t["grids"] += 1
                t["households"] += households or 0
                t["residents"] += residents or 0
                t["problems"] += sizing in {SizingStatus.OVER, SizingStatus.UNDER}
                break
    return [{"division": c, **totals.get(c.path, {})} for c in children]


@login_required
def division_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    division = visible_division(user, pk)
    grid = None
    if division.level == Level.GRID:
        grid = selectors.with_workers([selectors.visible_grids(user).get(pk=division.pk)])[0]
    may_change = can(user, division, Action.CHANGE)
    units = Unit.objects.restrict(user).filter(division=division).select_related("department_type")
    context = {
        "division": division,
        "grid": grid,
        "crumbs": crumbs(user, division),
        "children": _child_rows(user, division) if grid is None else [],
        "units": units,
        "may_change": may_change,
        "name_form": DivisionNameForm(initial={"name": division.name}),
        "child_form": ChildForm(),
        "child_level": Level(division.level + 1).label if division.level < Level.GRID else None,
        "map_config": _map_config(request, division.parent if grid else division),
        "issues": CoverageIssue.objects.restrict(user)
        .filter(subtree_q("division_path", division.path) | _grid_issue_q(division))
        .select_related("parent", "grid_a", "grid_b")[:50],
        "code_changes": division.code_changes.all()[:10],
        "field_card": _field_card(user, division) if grid is not None else None,
    }
    return render(request, "geo/division.html", context)


def _field_card(user: Any, division: Division) -> dict[str, Any] | None:
    # The grid's field work (visits, patrols, tracks) for those who see it; fieldwork owns it.
    from civicgrid.fieldwork.views.centre import grid_card

    return grid_card(user, division)


def _grid_issue_q(division: Division) -> Any:
    from django.db.models import Q

    return Q(grid_a=division) | Q(grid_b=division)


def _require_change(user: Any, division: Division) -> None:
    if not can(user, division, Action.CHANGE):
        raise PermissionDenied(_("You may not change %(name)s.") % {"name": division.name})


@login_required
def division_edit(request: HttpRequest, pk: int) -> HttpResponse:
    division = visible_division(request.user, pk)
    _require_change(request.user, division)
    form = DivisionNameForm(request.POST or None, initial={"name": division.name})
    if request.method == "POST" and form.is_valid():
        done = run_action(
            form,
            lambda: actions.do_update_division(
                division, actor=request.user, name=form.cleaned_data["name"]
            ),
        )
        if done is not None:
            messages.success(request, _("Saved."))
            return redirect("geo:division", division.pk)
    return render(
        request,
        "web/form_page.html",
        {
            "cancel_url": reverse("geo:division", args=[division.pk]),
            "form": form,
            "crumbs": crumbs(request.user, division),
            "title": _("Rename %(name)s") % {"name": division.name},
        },
    )


@login_required
def division_add(request: HttpRequest, pk: int) -> HttpResponse:
    parent = visible_division(request.user, pk)
    _require_change(request.user, parent)
    if parent.level >= Level.GRID:
        raise Http404
    form = ChildForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        child = run_action(
            form,
            lambda: actions.do_create_division(
                actor=request.user,
                parent=parent,
                code=form.cleaned_data["code"],
                name=form.cleaned_data["name"],
                level=parent.level + 1,
            ),
        )
        if child is not None:
            messages.success(request, _("%(name)s is added.") % {"name": child.name})
            return redirect("geo:division", child.pk)
    return render(
        request,
        "web/form_page.html",
        {
            "cancel_url": reverse("geo:division", args=[parent.pk]),
            "form": form,
            "crumbs": crumbs(request.user, parent),
            "title": _("Add a %(level)s under %(name)s")
            % {"level": Level(parent.level + 1).label, "name": parent.name},
        },
    )


@login_required
def grid_edit(request: HttpRequest, pk: int) -> HttpResponse:
    grid = get_object_or_404(selectors.visible_grids(request.user), pk=pk)
    _require_change(request.user, grid.division)
    initial = {name: getattr(grid, name) for name in actions.GRID_FIELDS}
    form = GridForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        done = run_action(form, lambda: actions.do_update_grid(grid, actor=request.user, **values))
        if done is not None:
            messages.success(request, _("Saved."))
            return redirect("geo:division", grid.pk)
    return render(
        request,
        "web/form_page.html",
        {
            "cancel_url": reverse("geo:division", args=[grid.pk]),
            "form": form,
            "crumbs": crumbs(request.user, grid.division),
            "title": _("Edit grid %(name)s") % {"name": grid.division.name},
        },
    )


# --- sizing and coverage report ---------------------------------------------------------------
PROBLEMS = "problems"


@login_required
def sizing_report(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    user = request.user
    under = division_by_code(user, request.GET.get("under"))
    status = request.GET.get("sizing", PROBLEMS)
    grids = selectors.visible_grids(user)
    issues = CoverageIssue.objects.restrict(user).select_related("parent", "grid_a", "grid_b")
    if under is not None:
        grids = grids.filter(subtree_q("division__path", under.path))
        issues = issues.filter(subtree_q("division_path", under.path))
    summary = selectors.sizing_summary(grids)
    if status == PROBLEMS:
        grids = grids.filter(  # type: ignore[misc]  # annotated by with_sizing()
            sizing__in=[SizingStatus.OVER, SizingStatus.UNDER, SizingStatus.UNKNOWN]
        )
    elif status in SizingStatus.values:
        grids = grids.filter(sizing=status)  # type: ignore[misc]  # annotated by with_sizing()
    setting = request.GET.get("setting")
    if setting in Setting.values:
        grids = grids.filter(setting=setting)
    if request.GET.get("export") == "csv":
        return _sizing_csv(grids)
    page = Paginator(grids, 50).get_page(request.GET.get("page"))
    checks = CoverageCheck.objects.restrict(user)
    if under is not None:
        checks = checks.filter(subtree_q("division_path", under.path))
    last_check = checks.order_by("-checked_at").values_list("checked_at", flat=True).first()
    roots = selectors.roots_for(user)
    scope_root = under if under is not None else (roots[0] if roots else None)
    return render(
        request,
        "geo/sizing.html",
        {
            "under": under,
            "status": status,
            "setting": setting or "",
            "statuses": [(PROBLEMS, _("all problems")), *SizingStatus.choices],
            "settings_choices": Setting.choices,
            "summary": summary,
            "total": sum(summary.values()),
            "page_obj": page,
            "issues": issues[:200],
            "issue_count": issues.count(),
            "last_check": last_check,
            "norm": settings.GRID_SIZING,
            "may_recheck": scope_root is not None and can(user, scope_root, Action.CHANGE),
            "scope_root": scope_root,
            "crumbs": crumbs(user, under, "geo:division") if under is not None else [],
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def _sizing_csv(grids: Any) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    header = [
        _("code"),
        _("name"),
        _("community"),
        _("kind"),
        _("setting"),
        _("households"),
        _("residents"),
        _("sizing"),
    ]

    def rows() -> Any:
        yield "\ufeff" + writer.writerow(header)
        for g in grids.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    g.division.code,
                    g.division.name,
                    g.division.parent.name if g.division.parent else "",
                    GridKind(g.kind).label,
                    Setting(g.setting).label,
                    g.households,
                    g.residents,
                    SizingStatus(g.sizing).label,
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="grid-sizing.csv"'
    return response


@login_required
@require_POST
def coverage_recheck(request: HttpRequest) -> HttpResponse:
    division = division_by_code(request.user, request.POST.get("under"))
    if division is None:
        raise Http404
    _require_change(request.user, division)
    ids = coverage.communities_under(division.path)
    check_coverage.enqueue(ids)
    messages.info(
        request,
        _("A coverage check of %(n)d communities is queued; refresh in a moment.")
        % {"n": len(ids)},
    )
    return redirect(f"{reverse('geo:sizing')}?under={division.code}#coverage")


# --- imports ----------------------------------------------------------------------------------
def _require_import(user: Any) -> None:
    message = _("Only a system administrator imports divisions and boundaries.")
    require(user, "import", Action.CHANGE, message)


@login_required
def imports(request: HttpRequest) -> HttpResponse:
    _require_import(request.user)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        job = run_action(
            form,
            lambda: jobs.do_create_import_job(
                actor=request.user,
                kind=data["kind"],
                upload=data["file"],
                options={
                    "dry_run": data["dry_run"],
                    "skip_invalid": data["skip_invalid"],
                    "crs": data["crs"],
                },
            ),
        )
        if job is not None:
            return redirect("geo:import", job.pk)
    recent = ImportJob.objects.restrict(request.user).select_related("created_by")[:20]
    return render(request, "geo/imports.html", {"form": form, "jobs": recent})


@login_required
def import_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.restrict(request.user), pk=pk)
    report = ImportReport.from_dict(job.report) if job.report else None
    context = {"job": job, "report": report, "errors": (report.errors[:1000] if report else [])}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "geo/import_status.html", context)
    return render(request, "geo/import_job.html", context)


@login_required
@require_POST
def import_repeat(request: HttpRequest, pk: int) -> HttpResponse:
    """Import a checked file for real: all or nothing, or the valid rows only."""
    _require_import(request.user)
    job = get_object_or_404(ImportJob.objects.restrict(request.user), pk=pk)
    skip = request.POST.get("skip_invalid") == "1"
    again = jobs.do_repeat_import_job(
        job, actor=request.user, options={"dry_run": False, "skip_invalid": skip}
    )
    return redirect("geo:import", again.pk)
