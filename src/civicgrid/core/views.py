"""Audit pages, for the audit administrator only (others get 404 rows, and no menu entry)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from .models import AccessLog, ChangeKind, ObjectChange
from .paths import subtree_q
from .scoping import Action, require


def _require_audit(user: Any) -> None:
    require(user, "audit", Action.VIEW, _("Only the audit administrator reads the audit trail."))


def _filtered(request: HttpRequest, qs: Any) -> tuple[Any, dict[str, str]]:
    params = {
        k: request.GET.get(k, "").strip()
        for k in ("under", "actor", "action", "kind", "request_id", "since", "until", "object_id")
    }
    if params["under"]:
        qs = qs.filter(subtree_q("division_path", params["under"]))
    if params["actor"]:
        qs = qs.filter(actor_name__icontains=params["actor"])
    if params["action"]:
        qs = qs.filter(action=params["action"])
    if params["kind"] in ChangeKind.values and hasattr(qs.model, "kind"):
        qs = qs.filter(kind=params["kind"])
    if params["request_id"]:
        qs = qs.filter(request_id=params["request_id"])
    if params["object_id"]:
        qs = qs.filter(object_id=params["object_id"])
    since, until = parse_date(params["since"] or ""), parse_date(params["until"] or "")
    if since:
        qs = qs.filter(time__date__gte=since)
    if until:
        qs = qs.filter(time__date__lte=until)
    return qs, params


@login_required
def changes(request: HttpRequest) -> HttpResponse:
    _require_audit(request.user)
    qs = ObjectChange.objects.restrict(request.user).select_related("content_type")
    qs, params = _filtered(request, qs)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "core/changes.html",
        {"page_obj": page, "params": params, "kinds": ChangeKind.choices},
    )


@login_required
def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_audit(request.user)
    change = get_object_or_404(ObjectChange.objects.restrict(request.user), pk=pk)
    before, after = change.before or {}, change.after or {}
    rows = [
        {
            "field": key,
            "before": before.get(key),
            "after": after.get(key),
            "changed": before.get(key) != after.get(key),
        }
        for key in sorted(set(before) | set(after))
    ]
    same_request = (
        ObjectChange.objects.restrict(request.user)
        .filter(request_id=change.request_id)
        .exclude(pk=change.pk)[:20]
        if change.request_id
        else []
    )
    return render(
        request, "core/change.html", {"change": change, "rows": rows, "same_request": same_request}
    )


@login_required
def access_log(request: HttpRequest) -> HttpResponse:
    _require_audit(request.user)
    qs = AccessLog.objects.restrict(request.user).select_related("content_type")
    qs, params = _filtered(request, qs)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "core/access.html", {"page_obj": page, "params": params})
