from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from civicgrid.accounts import actions as accounts
from civicgrid.accounts.models import ApiToken, RoleAssignment
from civicgrid.core.scoping import Action
from civicgrid.geo import selectors as geo_selectors
from civicgrid.geo.choices import Level
from civicgrid.geo.models import CoverageIssue, Division

from .forms import LoginForm, StyledForm, run_action
from .typing import AuthedRequest


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


@login_required
def home(request: AuthedRequest) -> HttpResponse:
    user = request.user
    assignments = RoleAssignment.objects.filter(user=user).select_related("division", "unit")
    divisions = Division.objects.restrict(user, Action.VIEW).filter(is_active=True)
    by_level = dict(divisions.order_by().values_list("level").annotate(n=Count("pk")))
    level_counts = [(Level(lv).label, by_level.get(lv, 0)) for lv in Level.values if lv > 1]
    grids = geo_selectors.visible_grids(user)
    sizing = geo_selectors.sizing_summary(grids)
    issues = geo_selectors.coverage_summary(CoverageIssue.objects.restrict(user))
    from civicgrid.cases import selectors as case_selectors
    from civicgrid.cases.views import QUEUE_LABELS, may_see_cases, queues_for

    case_queues = []
    if may_see_cases(user):
        case_queues = [
            (key, QUEUE_LABELS[key], case_selectors.queue(user, key).count())
            for key in queues_for(user)
            if key not in {"all", "open"}
        ]
    return render(
        request,
        "web/home.html",
        {
            "assignments": assignments,
            "roots": geo_selectors.roots_for(user),
            "level_counts": level_counts,
            "sizing": sizing,
            "sizing_total": sum(sizing.values()),
            "issues": issues,
            "norm": settings.GRID_SIZING,
            "case_queues": case_queues,
        },
    )


class PasswordForm(StyledForm):
    old_password = forms.CharField(
        label=gettext_lazy("Current password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    password = forms.CharField(
        label=gettext_lazy("New password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=gettext_lazy("New password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        return data


class TokenForm(StyledForm):
    name = forms.CharField(
        label=gettext_lazy("What the token is for"), max_length=80, required=False
    )


@login_required
def account(request: AuthedRequest) -> HttpResponse:
    user = request.user
    password_form = PasswordForm(prefix="pw")
    token_form = TokenForm(prefix="tk")
    new_key = None
    if request.method == "POST" and "pw-password" in request.POST:
        password_form = PasswordForm(request.POST, prefix="pw")
        if password_form.is_valid():
            done = run_action(
                password_form,
                lambda: accounts.do_set_password(
                    user,
                    actor=user,
                    password=password_form.cleaned_data["password"],
                    old_password=password_form.cleaned_data["old_password"],
                ),
            )
            if done is not None:
                update_session_auth_hash(request, done)
                messages.success(request, _("Your password is changed; API tokens were revoked."))
                return redirect("web:account")
    elif request.method == "POST" and "tk-name" in request.POST:
        token_form = TokenForm(request.POST, prefix="tk")
        if token_form.is_valid():
            _token, new_key = accounts.do_create_token(
                user, actor=user, name=token_form.cleaned_data["name"]
            )
            token_form = TokenForm(prefix="tk")
    return render(
        request,
        "web/account.html",
        {
            "password_form": password_form,
            "token_form": token_form,
            "new_key": new_key,
            "tokens": ApiToken.objects.filter(user=user),
            "assignments": RoleAssignment.objects.filter(user=user).select_related("division"),
        },
    )


@login_required
def inbox(request: AuthedRequest) -> HttpResponse:
    """The user's notifications; opening one marks it read and follows its link."""
    from django.core.paginator import Paginator
    from django.utils import timezone

    from civicgrid.core.models import Notification

    notes = Notification.objects.filter(user=request.user)
    if request.method == "POST":
        pk = request.POST.get("open") or ""
        if request.POST.get("all"):
            notes.filter(read_at__isnull=True).update(read_at=timezone.now())
            return redirect("web:inbox")
        if not pk.isdigit():  # a tampered form: not found, not a server error
            raise Http404
        note = get_object_or_404(notes, pk=int(pk))
        if note.read_at is None:
            notes.filter(pk=note.pk).update(read_at=timezone.now())
        return redirect(note.url or "web:inbox")
    page = Paginator(notes, 30).get_page(request.GET.get("page"))
    return render(request, "web/inbox.html", {"page_obj": page})


@login_required
@require_POST
def revoke_token(request: AuthedRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    accounts.do_revoke_token(token, actor=request.user)
    messages.success(request, _("The token is revoked."))
    return redirect("web:account")
