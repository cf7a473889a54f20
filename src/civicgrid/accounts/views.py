"""Pages for accounts, role assignments and units. The system administrator manages accounts
and units; the security administrator grants and revokes roles (see actions.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civicgrid.core.paths import subtree_q
from civicgrid.core.scoping import Action, can, reaches, require
from civicgrid.web.forms import run_action
from civicgrid.web.typing import AuthedRequest

from . import actions
from .api.views import visible_assignments
from .choices import UnitKind
from .forms import (
    GrantForm,
    ResetPasswordForm,
    UnitEditForm,
    UnitForm,
    UserCreateForm,
    UserEditForm,
)
from .models import RoleAssignment, Unit, User
from .roles import Role


def _visible_user(request: AuthedRequest, pk: int) -> User:
    qs = User.objects.restrict(request.user, Action.VIEW).select_related("division")
    return get_object_or_404(
        qs.prefetch_related(Prefetch("assignments", visible_assignments(request.user))), pk=pk
    )


@login_required
def users(request: AuthedRequest) -> HttpResponse:
    require(request.user, "account")
    qs = (
        User.objects.restrict(request.user)
        .select_related("division")
        .prefetch_related(Prefetch("assignments", visible_assignments(request.user)))
    )
    q = request.GET.get("q", "").strip()
    if q:
        qs = qs.filter(Q(username__icontains=q) | Q(full_name__contains=q))
    role = request.GET.get("role", "")
    if role in Role.values:
        qs = qs.filter(assignments__role=role).distinct()
    under = request.GET.get("under", "").strip()
    if under:
        from civicgrid.geo.views import division_by_code

        division = division_by_code(request.user, under)
        assert division is not None
        qs = qs.filter(subtree_q("division_path", division.path))
    state = request.GET.get("state", "")
    if state == "inactive":
        qs = qs.filter(is_active=False)
    elif state == "active":
        qs = qs.filter(is_active=True)
    page = Paginator(qs.order_by("division_path", "username"), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/users.html",
        {
            "page_obj": page,
            "q": q,
            "role": role,
            "under": under,
            "state": state,
            "roles": Role.choices,
            "may_create": reaches(request.user, "account", Action.CHANGE),
        },
    )


@login_required
def user_create(request: AuthedRequest) -> HttpResponse:
    require(request.user, "account", Action.CHANGE)
    form = UserCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        created = run_action(form, lambda: actions.do_create_user(actor=request.user, **data))
        if created is not None:
            messages.success(
                request,
                _("Account %(name)s is created. A security administrator grants its roles.")
                % {"name": created.username},
            )
            return redirect("accounts:user", created.pk)
    return render(
        request,
        "web/form_page.html",
        {"form": form, "title": _("New account"), "cancel_url": reverse("accounts:users")},
    )


@login_required
def user_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    target = _visible_user(request, pk)
    may_change = can(request.user, target, Action.CHANGE)
    assignments = list(target.assignments.all())
    revocable = {a.pk for a in assignments if actions.may_grant(request.user, a.role, a.division)}
    may_grant = reaches(request.user, "role", Action.CHANGE) or any(
        request.user.holds_role_over(r, target.division_path or "") for r in Role.values
    )
    return render(
        request,
        "accounts/user.html",
        {
            "target": target,
            "assignments": assignments,
            "revocable": revocable,
            "may_change": may_change and target.pk != request.user.pk,
            "may_grant": may_grant and target.pk != request.user.pk,
            "grant_form": GrantForm(
                user=request.user,
                initial={"division": target.division.code if target.division else ""},
            ),
            "password_form": ResetPasswordForm(),
        },
    )


@login_required
def user_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    target = _visible_user(request, pk)
    if not can(request.user, target, Action.CHANGE):
        raise PermissionDenied(_("You may not change this account."))
    initial = {
        "full_name": target.full_name,
        "email": target.email,
        "division": target.division.code if target.division else "",
    }
    form = UserEditForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done = run_action(form, lambda: actions.do_update_user(target, actor=request.user, **data))
        if done is not None:
            messages.success(request, _("Saved."))
            return redirect("accounts:user", target.pk)
    return render(
        request,
        "web/form_page.html",
        {
            "form": form,
            "title": _("Edit %(name)s") % {"name": target},
            "cancel_url": reverse("accounts:users"),
        },
    )


@login_required
@require_POST
def user_password(request: AuthedRequest, pk: int) -> HttpResponse:
    target = _visible_user(request, pk)
    form = ResetPasswordForm(request.POST)
    if form.is_valid():
        done = run_action(
            form,
            lambda: actions.do_set_password(
                target, actor=request.user, password=form.cleaned_data["password"]
            ),
        )
        if done is not None:
            messages.success(
                request, _("The password is reset; the user's API tokens are revoked.")
            )
            return redirect("accounts:user", target.pk)
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, _("Password not changed: %(error)s") % {"error": error})
    return redirect("accounts:user", target.pk)


@login_required
@require_POST
def user_state(request: AuthedRequest, pk: int) -> HttpResponse:
    target = _visible_user(request, pk)
    what = request.POST.get("do")
    if what == "unlock":
        actions.do_unlock_user(target, actor=request.user)
        messages.success(request, _("The account is unlocked."))
    elif what in {"activate", "deactivate"}:
        try:
            actions.do_set_active(target, actor=request.user, active=what == "activate")
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        else:
            messages.success(request, _("Saved."))
    return redirect("accounts:user", target.pk)


@login_required
@require_POST
def user_grant(request: AuthedRequest, pk: int) -> HttpResponse:
    target = _visible_user(request, pk)
    form = GrantForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        done = run_action(form, lambda: actions.do_grant_role(target, actor=request.user, **data))
        if done is not None:
            messages.success(request, _("Granted: %(role)s.") % {"role": done.label})
            return redirect("accounts:user", target.pk)
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else str(error))
    return redirect("accounts:user", target.pk)


@login_required
@require_POST
def assignment_revoke(request: AuthedRequest, pk: int) -> HttpResponse:
    assignment = get_object_or_404(
        RoleAssignment.objects.restrict(request.user, Action.VIEW).select_related("division"),
        pk=pk,
    )
    actions.do_revoke_role(assignment, actor=request.user)
    messages.success(request, _("The role is revoked."))
    return redirect("accounts:user", assignment.user_id)


@login_required
def units(request: AuthedRequest) -> HttpResponse:
    require(request.user, "org")
    qs = Unit.objects.restrict(request.user).select_related("division", "department_type")
    kind = request.GET.get("kind", "")
    if kind in UnitKind.values:
        qs = qs.filter(kind=kind)
    q = request.GET.get("q", "").strip()
    if q:
        qs = qs.filter(name__contains=q)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/units.html",
        {
            "page_obj": page,
            "kind": kind,
            "q": q,
            "kinds": UnitKind.choices,
            "may_create": reaches(request.user, "org", Action.CHANGE),
        },
    )


@login_required
def unit_create(request: AuthedRequest) -> HttpResponse:
    require(request.user, "org", Action.CHANGE)
    form = UnitForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        unit = run_action(form, lambda: actions.do_create_unit(actor=request.user, **data))
        if unit is not None:
            messages.success(request, _("Unit %(name)s is created.") % {"name": unit.name})
            return redirect("accounts:units")
    return render(
        request,
        "web/form_page.html",
        {"form": form, "title": _("New unit"), "cancel_url": reverse("accounts:units")},
    )


@login_required
def unit_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    unit = get_object_or_404(Unit.objects.restrict(request.user).select_related("division"), pk=pk)
    if not can(request.user, unit, Action.CHANGE):
        raise PermissionDenied(_("You may not change this unit."))
    initial = {
        "name": unit.name,
        "kind": unit.kind,
        "department_type": unit.department_type,
        "phone": unit.phone,
        "is_active": unit.is_active,
    }
    form = UnitEditForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done = run_action(form, lambda: actions.do_update_unit(unit, actor=request.user, **data))
        if done is not None:
            messages.success(request, _("Saved."))
            return redirect("accounts:units")
    return render(
        request,
        "web/form_page.html",
        {
            "form": form,
            "title": _("Edit %(name)s") % {"name": unit.name},
            "cancel_url": reverse("accounts:units"),
        },
    )
