"""Case pages: the queues of centres, departments and grid workers; the case page with exactly
the actions the user may take now; intake. Every write goes through cases.actions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_date
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civicgrid.accounts.roles import Role
from civicgrid.catalog.models import CaseCategory
from civicgrid.core.exceptions import Conflict
from civicgrid.core.paths import subtree_q
from civicgrid.geo.coords import gcj02_to_wgs84
from civicgrid.geo.models import Division
from civicgrid.web.forms import run_action
from civicgrid.web.typing import AuthedRequest

from . import actions, rules, selectors, sla
from .choices import SlaState, Status
from .forms import ActionForm, ReportForm
from .models import Case
from .workflow import TRANSITIONS

QUEUE_LABELS = {
    "to_file": gettext_lazy("To file"),
    "to_dispatch": gettext_lazy("To dispatch"),
    "to_check": gettext_lazy("To check and close"),
    "overdue": gettext_lazy("Due soon or overdue"),
    "supervised": gettext_lazy("Under supervision"),
    "my_unit": gettext_lazy("My unit's cases"),
    "my_reports": gettext_lazy("My reports"),
    "my_checks": gettext_lazy("My on-site checks"),
    "open": gettext_lazy("All open"),
    "all": gettext_lazy("All"),
}


def queues_for(user: Any) -> list[str]:
    roles = {r for r, _p in user.assignment_pairs()}
    keys: list[str] = []
    if Role.CENTRE_STAFF in roles or user.is_superuser:
        keys += ["to_file", "to_dispatch", "to_check", "overdue", "supervised"]
    if Role.DEPARTMENT_HANDLER in roles:
        keys += ["my_unit", "overdue"]
    if roles & {Role.GRID_WORKER, Role.GRID_LEADER}:
        keys += ["my_reports", "my_checks"]
    if roles & {Role.LEADER}:
        keys += ["overdue", "supervised"]
    keys += ["open", "all"]
    return list(dict.fromkeys(keys))


def may_see_cases(user: Any) -> bool:
    roles = {r for r, _p in user.assignment_pairs()}
    return user.is_superuser or bool(
        roles
        & {
            Role.CENTRE_STAFF,
            Role.DEPARTMENT_HANDLER,
            Role.GRID_WORKER,
            Role.GRID_LEADER,
            Role.LEADER,
        }
    )


def _require_cases(user: Any) -> None:
    if not may_see_cases(user):
        raise PermissionDenied(_("Your roles do not include cases."))


@login_required
def case_list(request: AuthedRequest) -> HttpResponse:
    user = request.user
    _require_cases(user)
    available = queues_for(user)
    queue = request.GET.get("queue") or available[0]
    if queue not in available:
        raise Http404
    qs = selectors.visible_cases(user) if queue == "all" else selectors.queue(user, queue)
    params = {
        k: request.GET.get(k, "").strip()
        for k in ("under", "category", "status", "sla", "q", "since", "until", "unit")
    }
    if params["under"]:
        division = Division.objects.filter(code=params["under"], is_active=True).first()
        qs = qs.filter(subtree_q("division_path", division.path)) if division else qs.none()
    if params["category"]:
        qs = qs.filter(category__code=params["category"]) | qs.filter(
            category__parent__code=params["category"]
        )
    if params["unit"]:
        qs = qs.filter(owner_unit__name__contains=params["unit"])
    if params["status"] in Status.values:
        qs = qs.filter(status=params["status"])
    if params["sla"] in SlaState.values:
        qs = qs.filter(sla_state=params["sla"])
    if params["q"]:
        from django.db.models import Q

        qs = qs.filter(Q(number__startswith=params["q"]) | Q(title__contains=params["q"]))
    errors: dict[str, str] = {}
    for key, lookup in (("since", "reported_at__date__gte"), ("until", "reported_at__date__lte")):
        if params[key]:
            try:
                day = parse_date(params[key])
            except ValueError:  # well formed, but no such day (2026-13-40)
                day = None
            if day is None:
                errors[key] = _("Not a date: use the form 2026-03-02.")
                qs = qs.none()
            else:
                qs = qs.filter(**{lookup: day})
    ordering = (
        ["stage_due", "-reported_at"] if queue not in {"all", "my_reports"} else ["-reported_at"]
    )
    page = Paginator(qs.order_by(*ordering), 30).get_page(request.GET.get("page"))
    counts = {
        key: selectors.queue(user, key).count() for key in available if key not in {"all", "open"}
    }
    return render(
        request,
        "cases/list.html",
        {
            "page_obj": page,
            "queue": queue,
            "queues": [(k, QUEUE_LABELS[k], counts.get(k)) for k in available],
            "params": params,
            "errors": errors,
            "statuses": Status.choices,
            "sla_states": SlaState.choices,
            "majors": CaseCategory.objects.filter(parent__isnull=True, is_active=True),
            "may_report": (
                may_see_cases(user) and Role.LEADER not in {r for r, _p in user.assignment_pairs()}
            )
            or user.is_superuser,
        },
    )


def _extra_from_post(post: Any) -> dict[str, Any]:
    return {key[6:]: value for key, value in post.items() if key.startswith("extra.") and value}


@login_required
def case_new(request: AuthedRequest) -> HttpResponse:
    user = request.user
    _require_cases(user)
    form = ReportForm(request.POST or None, request.FILES or None, user=user)
    category = None
    code = request.POST.get("category") or request.GET.get("category")
    if code:
        category = CaseCategory.objects.filter(code=code, is_active=True).first()
    if request.htmx and request.method == "GET":  # type: ignore[attr-defined]
        return render(request, "cases/includes/extra_fields.html", {"category": category})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        uploads = [(f.name, f.read()) for f in data.pop("files", [])]
        if request.POST.get("crs") == "gcj02" and data.get("lat") is not None:
            data["lng"], data["lat"] = gcj02_to_wgs84(data["lng"], data["lat"])
        division = None
        if data.get("division"):
            division = Division.objects.restrict(user).filter(code=data["division"]).first()
            if division is None:
                form.add_error("division", _("No division with this code in your area."))
        if category is None:
            form.add_error("category", _("Choose a category."))
        if not form.errors:
            assert category is not None
            created = run_action(
                form,
                lambda: actions.do_report_case(
                    actor=user,
                    category=category,
                    description=data["description"],
                    channel=data["channel"],
                    title=data.get("title", ""),
                    lat=data.get("lat"),
                    lng=data.get("lng"),
                    address=data.get("address", ""),
                    division=division,
                    priority=data.get("priority"),
                    reporter_name=data.get("reporter_name", ""),
                    reporter_phone=data.get("reporter_phone", ""),
                    extra=_extra_from_post(request.POST),
                    register=bool(data.get("register")),
                    self_resolve=bool(data.get("self_resolve")),
                    note=data.get("note", ""),
                    uploads=uploads,
                ),
            )
            if created is not None:
                case, _new = created
                messages.success(
                    request, _("Case %(number)s is reported.") % {"number": case.number}
                )
                return redirect("cases:case", case.pk)
    return render(
        request,
        "cases/new.html",
        {
            "form": form,
            "category": category,
            "map_config": _map_config(None),
        },
    )


def _map_config(case: Case | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "tile": {
            "url": settings.MAP_TILE_URL,
            "attribution": settings.MAP_TILE_ATTRIBUTION,
            "crs": settings.MAP_TILE_CRS if settings.MAP_TILE_URL else "wgs84",
        },
        "labels": {
            "locate": _("Use my position"),
            "noPosition": _("Your position is not available."),
            "picked": _("Point set: %(lat)s, %(lng)s"),
        },
    }
    if case is not None:
        if case.lat is not None:
            config["point"] = [case.lat, case.lng]
        if case.grid_id:
            grid = case.grid
            assert grid is not None
            config["grid"] = (
                reverse("api:grid-geojson") + f"?code={grid.code}&crs={config['tile']['crs']}"
            )
    return config


def _visible_case(request: AuthedRequest, pk: int) -> Case:
    qs = selectors.visible_cases(request.user).select_related("reporter", "checker", "merged_into")
    return get_object_or_404(qs.prefetch_related("co_units", "attachments"), pk=pk)


def _page(
    request: AuthedRequest, case: Case, forms: dict[str, ActionForm] | None = None, phone: str = ""
) -> HttpResponse:
    user = request.user
    transitions = rules.available(user, case)
    forms = forms or {}
    action_forms = [
        (
            t,
            forms.get(t.name)
            or ActionForm(initial={"version": case.version}, case=case, name=t.name, user=user),
        )
        for t in transitions
    ]
    duplicates = []
    if case.status in {Status.REPORTED, Status.REGISTERED} and rules.centre_side(user, case):
        duplicates = selectors.possible_duplicates(
            category_id=case.category_id,
            lat=case.lat,
            lng=case.lng,
            when=case.reported_at,
            exclude=case.pk,
            user=user,
        )
    steps = case.steps.select_related("unit").prefetch_related("attachments")
    suggested = (
        actions.suggested_unit(case) if any(t.name == "dispatch" for t in transitions) else None
    )
    return render(
        request,
        "cases/case.html",
        {
            "case": case,
            "action_forms": action_forms,
            "steps": steps,
            "photos": [a for a in case.attachments.all() if a.kind == "photo"],
            "documents": [a for a in case.attachments.all() if a.kind != "photo"],
            "duplicates": duplicates,
            "suggested": suggested,
            "masked_phone": actions.masked_phone(case),
            "full_phone": phone,
            "may_unmask": bool(case.reporter_phone_enc) and rules.centre_side(user, case),
            "extra_rows": _extra_rows(case),
            "staged_limits": sla.staged_limits(case),
            "map_config": _map_config(case),
        },
    )


def _extra_rows(case: Case) -> list[tuple[str, Any]]:
    specs = {spec["name"]: spec for spec in case.category.field_specs()}
    english = (get_language() or "").startswith("en")
    return [
        (specs.get(k, {}).get("label_en" if english else "label", k), v)
        for k, v in (case.extra or {}).items()
    ]


@login_required
def case_page(request: AuthedRequest, pk: int) -> HttpResponse:
    return _page(request, _visible_case(request, pk))


@login_required
@require_POST
def case_act(request: AuthedRequest, pk: int, name: str) -> HttpResponse:
    case = _visible_case(request, pk)
    if name not in TRANSITIONS:
        raise Http404
    form = ActionForm(request.POST, request.FILES, case=case, name=name, user=request.user)
    if form.is_valid():
        values = dict(form.cleaned_data)
        if "files" in values:
            values["uploads"] = [(f.name, f.read()) for f in values.pop("files")]
        if name == "merge":
            into = selectors.visible_cases(request.user).filter(number=values.pop("into")).first()
            if into is None:
                form.add_error("into", _("No such case in your area."))
            values["into"] = into
        if not form.errors:
            try:
                done = run_action(
                    form, lambda: actions.ACTIONS[name](case, actor=request.user, **values)
                )
            except Conflict as exc:
                messages.error(request, exc.message)
                return redirect("cases:case", case.pk)
            if done is not None:
                messages.success(
                    request, _("Done: %(action)s.") % {"action": TRANSITIONS[name].label}
                )
                return redirect("cases:case", case.pk)
    return _page(request, case, {name: form})


@login_required
@require_POST
def case_phone(request: AuthedRequest, pk: int) -> HttpResponse:
    case = _visible_case(request, pk)
    reason = request.POST.get("reason", "")
    try:
        phone = actions.reporter_phone(case, actor=request.user, reason=reason)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("cases:case", case.pk)
    return _page(request, case, phone=phone)
