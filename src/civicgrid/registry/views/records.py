"""A record's page: the household view (house → households → residents, a building's houses),
the resident with their household, care tags and history, organisations and places; and the
audited unmask of a full number, shown in the response of that request only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from civicgrid.web.forms import run_action
from civicgrid.web.typing import AuthedRequest

from .. import actions, selectors
from ..forms import UnmaskForm
from ..models import Building, House, Household, Organisation, Record, Resident
from .common import (
    SLUGS,
    crumbs,
    may_change,
    record_url,
    require_registry,
    resident_count,
)
from .history import history_of

# Record types that hold a protected number (an ID number, a phone).
PROTECTED = frozenset({"resident", "organisation", "place"})
RELATED: dict[str, tuple[str, ...]] = {
    "resident": ("division", "house__building", "household"),
    "household": ("division", "house__building"),
    "house": ("division", "building"),
    "building": ("division",),
    "organisation": ("division", "building"),
    "place": ("division", "organisation"),
    "care_tag": ("resident",),
}


def _record(user: Any, kind: str, pk: int) -> Any:
    require_registry(user)
    return get_object_or_404(selectors.visible(kind, user).select_related(*RELATED[kind]), pk=pk)


def _members(user: Any, households: list[Household]) -> dict[int, list[Resident]]:
    ids = [h.pk for h in households]
    out: dict[int, list[Resident]] = {pk: [] for pk in ids}
    members = (
        selectors.visible("resident", user)
        .filter(household_id__in=ids, is_active=True)
        .order_by("household_id", "birth_date", "id")
    )
    for person in members:
        assert person.household_id is not None
        out[person.household_id].append(person)
    for people in out.values():
        people.sort(key=lambda p: (p.relation != "head", p.birth_date or timezone.localdate()))
    return out


def _context(request: AuthedRequest, kind: str, obj: Record) -> dict[str, Any]:
    user = request.user
    context: dict[str, Any] = {
        "obj": obj,
        "kind": kind,
        "crumbs": crumbs(user, obj.division),
        "may_change": may_change(user, obj) and obj.is_active,
        "history": history_of(obj),
        "today": timezone.localdate(),
        "soon": timezone.localdate() + dt.timedelta(days=7),
    }
    if "phone_masked" in {f.name for f in type(obj)._meta.concrete_fields}:
        context["may_unmask"] = actions.may_unmask(user, obj) and bool(
            getattr(obj, "id_enc", "") or getattr(obj, "phone_enc", "")
        )
        context["unmask_form"] = UnmaskForm()
        context["unmask_options"] = unmask_options(kind, None)
    if isinstance(obj, Resident):
        context.update(_resident(user, obj))
    elif isinstance(obj, Household):
        context["members"] = _members(user, [obj])[obj.pk]
        context["ended_members"] = selectors.visible("resident", user).filter(
            household=obj, is_active=False
        )
    elif isinstance(obj, House):
        households = list(selectors.visible("household", user).filter(house=obj, is_active=True))
        members = _members(user, households)
        context["households"] = [(h, members[h.pk]) for h in households]
        context["without_household"] = selectors.visible("resident", user).filter(
            house=obj, household__isnull=True, is_active=True
        )
    elif isinstance(obj, Building):
        houses = list(
            selectors.visible("house", user)
            .filter(building=obj)
            .order_by("-is_active", "unit_no", "room")
            .prefetch_related(
                Prefetch(
                    "households",
                    queryset=Household.objects.filter(is_active=True).order_by("id"),
                    to_attr="current_households",
                )
            )
        )
        context["houses"] = houses
        context["resident_counts"] = resident_count([h.pk for h in houses])
        context["organisations"] = selectors.visible("organisation", user).filter(
            building=obj, is_active=True
        )
    elif isinstance(obj, Organisation):
        context["places"] = selectors.visible("place", user).filter(organisation=obj)
    return context


def unmask_options(kind: str, form: UnmaskForm | None) -> list[tuple[str, str, bool]]:
    """The numbers a record has to show, and which are ticked: the ID number of a resident by
    default, the phone of anything else."""
    wanted: list[str] = []
    if form is not None and form.is_bound:
        wanted = list(form.data.getlist("fields"))  # type: ignore[attr-defined]
    if not wanted:
        wanted = ["id_number"] if kind == "resident" else ["phone"]
    names = ["id_number", "phone"] if kind == "resident" else ["phone"]
    labels = dict(UnmaskForm().fields["fields"].choices)  # type: ignore[attr-defined]
    return [(name, str(labels[name]), name in wanted) for name in names]


def _resident(user: Any, person: Resident) -> dict[str, Any]:
    tags = list(person.care_tags.order_by("-is_active", "next_visit_due", "id"))
    return {
        "members": selectors.household_members(person).select_related("division"),
        "tags": [t for t in tags if t.is_active],
        "ended_tags": [t for t in tags if not t.is_active],
        "age": _age(person.birth_date),
    }


def _age(birth: dt.date | None) -> int | None:
    if birth is None:
        return None
    today = timezone.localdate()
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _render(request: AuthedRequest, kind: str, obj: Record, **extra: Any) -> HttpResponse:
    context = {**_context(request, kind, obj), **extra}
    return render(request, f"registry/{kind}.html", context)


@never_cache
@login_required
def record_page(request: AuthedRequest, kind: str, pk: int) -> HttpResponse:
    kind = SLUGS[kind]
    obj = _record(request.user, kind, pk)
    if kind == "care_tag":
        return redirect(record_url(obj))
    if isinstance(obj, Resident):
        # The membership of some key groups is itself sensitive: reading it is logged.
        actions.log_sensitive_read(obj, actor=request.user)
    return _render(request, kind, obj)


@never_cache
@login_required
@require_POST
def unmask(request: AuthedRequest, kind: str, pk: int) -> HttpResponse:
    """Show full numbers for a reason the user gives; the action checks the role and logs the
    access. The numbers are in this response only: reloading the page shows them masked."""
    kind = SLUGS[kind]
    if kind not in PROTECTED:
        raise Http404  # nothing to unmask on this kind of record
    obj = _record(request.user, kind, pk)
    form = UnmaskForm(request.POST)
    revealed = None
    if form.is_valid():
        revealed = run_action(
            form,
            lambda: actions.unmask(
                obj,
                actor=request.user,
                fields=list(form.cleaned_data.get("fields") or []),
                reason=form.cleaned_data.get("reason") or "",
            ),
        )
    context = {
        "obj": obj,
        "kind": kind,
        "may_unmask": True,
        "unmask_form": form,
        "unmask_options": unmask_options(kind, form),
        "revealed": revealed,
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "registry/includes/numbers.html", context)
    return _render(
        request,
        kind,
        obj,
        unmask_form=form,
        unmask_options=unmask_options(kind, form),
        revealed=revealed,
    )
