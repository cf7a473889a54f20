"""Forms that write: register, edit (with the version the person saw), end with a reason, move a
resident, tag a resident with a care group, record a visit. Every write is an action of
registry.actions; its errors land on the fields they name, a stale version is a conflict."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from civicgrid.core.exceptions import Conflict
from civicgrid.core.scoping import Action
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division
from civicgrid.web.forms import StyledForm, run_action
from civicgrid.web.typing import AuthedRequest

from .. import actions, selectors
from ..forms import (
    FORMS,
    PARENTS,
    CareTagForm,
    EndForm,
    MoveForm,
    VisitForm,
    initial_of,
    options_for,
    placement_of,
)
from ..models import CareTag, Record, Resident
from .common import (
    SLUG_OF,
    SLUGS,
    changeable_record,
    crumbs,
    division_by_code,
    record_url,
    require_registry,
    safe_next,
)

NEW_TITLES = {
    "building": gettext_lazy("Register a building"),
    "house": gettext_lazy("Register a house"),
    "household": gettext_lazy("Register a household"),
    "resident": gettext_lazy("Register a resident"),
    "organisation": gettext_lazy("Register an organisation"),
    "place": gettext_lazy("Register a place"),
}
# Records a new one can be filed under, by the query parameter that names them.
CONTEXTS = ("household", "house", "building", "organisation")


def _form_page(
    request: AuthedRequest,
    form: StyledForm,
    *,
    title: str,
    cancel_url: str,
    division: Division | None,
    status: int = 200,
    obj: Record | None = None,
    submit: str = "",
) -> HttpResponse:
    return render(
        request,
        "registry/form.html",
        {
            "form": form,
            "title": title,
            "cancel_url": cancel_url,
            "crumbs": crumbs(request.user, division) if division is not None else [],
            "obj": obj,
            "submit": submit or _("Save"),
        },
        status=status,
    )


def _prefill(request: AuthedRequest) -> tuple[dict[str, Any], Division | None]:
    """Initial placement from the record the user came from (?household=, ?house=, …,
    ?grid=code); anything the user may not see is ignored."""
    user = request.user
    for name in CONTEXTS:
        value = request.GET.get(name, "")
        if value.isdigit():
            parent = selectors.visible(name, user).filter(pk=int(value), is_active=True).first()
            if parent is not None:
                initial = placement_of(parent)
                if name == "organisation":
                    initial = {"grid": parent.division.code, "organisation": parent.pk}
                return initial, parent.division
    code = request.GET.get("grid", "")
    division = division_by_code(user, code) if code else None
    if division is None or division.level != Level.GRID:
        return {}, division  # a community or township: where the page sits, not a grid to file in
    return {"grid": division.code}, division


@login_required
def record_new(request: AuthedRequest, kind: str) -> HttpResponse:
    kind = SLUGS[kind]
    if kind == "care_tag":
        raise Http404  # a care tag is added from the resident's page
    user = request.user
    require_registry(user, Action.CHANGE)
    initial, division = _prefill(request)
    form = FORMS[kind](request.POST or None, user=user, initial=initial)
    if request.method == "POST" and form.is_valid():
        created = run_action(
            form, lambda: actions.do_create_record(kind, actor=user, data=form.record_data())
        )
        if created is not None:
            messages.success(request, _("Registered: %(name)s.") % {"name": created})
            return redirect(record_url(created))
    back = reverse("registry:list", args=[SLUG_OF[kind]])
    return _form_page(
        request, form, title=str(NEW_TITLES[kind]), cancel_url=back, division=division
    )


def _ended(request: AuthedRequest, obj: Record) -> HttpResponse:
    messages.error(request, _("This record has ended and can no longer be changed."))
    return redirect(record_url(obj))


@login_required
def record_edit(request: AuthedRequest, kind: str, pk: int) -> HttpResponse:
    kind = SLUGS[kind]
    user = request.user
    obj = changeable_record(user, kind, pk)
    if not obj.is_active:
        return _ended(request, obj)
    form_class = FORMS[kind]
    form = form_class(
        request.POST or None, user=user, editing=True, initial=initial_of(obj, form_class)
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        done, status = _act(
            form,
            lambda: actions.do_update_record(
                obj, actor=user, version=form.submitted_version(), data=form.record_data()
            ),
        )
        if done is not None:
            messages.success(request, _("Saved."))
            return redirect(record_url(done))
    return _form_page(
        request,
        form,
        title=_("Edit %(what)s: %(name)s") % {"what": _kind_name(kind), "name": _name(obj)},
        cancel_url=record_url(obj),
        division=obj.division,
        status=status,
        obj=obj,
    )


R = TypeVar("R")


def _act(form: Any, action: Callable[[], R]) -> tuple[R | None, int]:
    """Run a write for a form page: its refusals land on the form (run_action), a conflict
    (stale version) on top of it with status 409. Returns (result or None, status)."""
    try:
        return run_action(form, action), 200
    except Conflict as exc:
        form.add_error(None, exc.message)
        return None, 409


def _kind_name(kind: str) -> str:
    return str(actions.KINDS[kind]._meta.verbose_name)


def _name(obj: Record) -> str:
    return str(obj.resident) if isinstance(obj, CareTag) else str(obj)


@login_required
def record_end(request: AuthedRequest, kind: str, pk: int) -> HttpResponse:
    kind = SLUGS[kind]
    user = request.user
    obj = changeable_record(user, kind, pk)
    if not obj.is_active:
        return _ended(request, obj)
    form = EndForm(request.POST or None, initial={"version": obj.version})
    status = 200
    if request.method == "POST" and form.is_valid():
        version = str(form.cleaned_data.get("version") or "")
        done, status = _act(
            form,
            lambda: actions.do_end_record(
                obj,
                actor=user,
                version=int(version) if version.isdigit() else 0,
                reason=form.cleaned_data.get("reason") or "",
            ),
        )
        if done is not None:
            messages.success(request, _("The record is ended; it stays in the history."))
            return redirect(record_url(done))
    return _form_page(
        request,
        form,
        title=_("End %(what)s: %(name)s") % {"what": _kind_name(kind), "name": _name(obj)},
        cancel_url=record_url(obj),
        division=obj.division,
        status=status,
        obj=obj,
        submit=_("End the record"),
    )


@login_required
def resident_move(request: AuthedRequest, pk: int) -> HttpResponse:
    """Move a resident to another grid, house or household: the same person, with history."""
    user = request.user
    person: Resident = changeable_record(user, "resident", pk)
    if not person.is_active:
        return _ended(request, person)
    initial = {**placement_of(person), "relation": person.relation, "version": person.version}
    form = MoveForm(request.POST or None, user=user, editing=True, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        done, status = _act(
            form,
            lambda: actions.do_update_record(
                person,
                actor=user,
                version=form.submitted_version(),
                data=form.record_data(),
                action="move",
            ),
        )
        if done is not None:
            messages.success(request, _("Moved: %(name)s.") % {"name": person.name})
            return redirect(record_url(done))
    return _form_page(
        request,
        form,
        title=_("Move %(name)s") % {"name": person.name},
        cancel_url=record_url(person),
        division=person.division,
        status=status,
        obj=person,
        submit=_("Move"),
    )


@login_required
def resident_tag(request: AuthedRequest, pk: int) -> HttpResponse:
    user = request.user
    person: Resident = changeable_record(user, "resident", pk)
    if not person.is_active:
        return _ended(request, person)
    form = CareTagForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        tag = run_action(
            form, lambda: actions.do_tag_resident(person, actor=user, data=form.record_data())
        )
        if tag is not None:
            messages.success(
                request,
                _("%(name)s is in the group: %(group)s.")
                % {"name": person.name, "group": tag.get_group_display()},
            )
            return redirect(record_url(tag))
    return _form_page(
        request,
        form,
        title=_("Add %(name)s to a care or key group") % {"name": person.name},
        cancel_url=record_url(person),
        division=person.division,
        obj=person,
    )


@login_required
@require_POST
def care_visit(request: AuthedRequest, pk: int) -> HttpResponse:
    """Record a visit to a care-group member (today unless a date is given). From the care
    list (htmx) the answer is the row, updated; otherwise back where the form was."""
    user = request.user
    tag: CareTag = changeable_record(user, "care_tag", pk)
    form = VisitForm(request.POST)
    error = ""
    done: CareTag | None = None
    if form.is_valid():
        raw = str(form.cleaned_data.get("on") or "")
        try:
            on = dt.date.fromisoformat(raw) if raw else timezone.localdate()
        except ValueError:
            error = _("Enter a date as YYYY-MM-DD.")
        else:
            try:
                done = actions.do_record_care_visit(
                    tag, actor=user, on=on, note=form.cleaned_data.get("note") or ""
                )
            except ValidationError as exc:
                error = "; ".join(exc.messages)
            except Conflict as exc:
                error = exc.message
    if request.htmx and request.POST.get("row"):  # type: ignore[attr-defined]
        fresh = (
            selectors.visible("care_tag", user)
            .select_related("resident", "division", "resident__house__building")
            .get(pk=tag.pk)
        )
        fresh.may_visit = True  # it was changeable a moment ago
        today = timezone.localdate()
        return render(
            request,
            "registry/includes/care_row.html",
            {
                "tag": fresh,
                "today": today,
                "soon": today + dt.timedelta(days=7),
                "visited": done is not None,
                "row_error": error,
            },
            status=200 if not error else 400,
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request,
            _("Visit recorded; the next one is due on %(date)s.")
            % {"date": done.next_visit_due.isoformat() if done and done.next_visit_due else "—"},
        )
    return redirect(safe_next(request, record_url(tag)))


@login_required
@require_GET
def options(request: AuthedRequest) -> HttpResponse:
    """The options of one select of the placement cascade (htmx), and empty selects further
    down the cascade (out of band), so that a new grid clears the house and household."""
    user = request.user
    require_registry(user)
    what = request.GET.get("what", "")
    if what not in PARENTS:
        raise Http404
    parent = request.GET.get(PARENTS[what], "")
    clear = [
        name
        for name in request.GET.get("clear", "").split(",")
        if name in {"building", "house", "household", "organisation"}
    ]
    return render(
        request,
        "registry/includes/options.html",
        {"options": options_for(user, what, parent), "clear": clear},
    )
