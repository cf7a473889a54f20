"""Pages of data sharing: the subscriptions of an area with their webhook delivery state, for
the system administrators who manage them and (read-only) for the subscribing unit's staff."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from civicgrid.core.scoping import Action, can, reaches
from civicgrid.web.forms import run_action
from civicgrid.web.typing import AuthedRequest

from . import actions, selectors
from .fields import FieldClass, RecordType
from .forms import SubscriptionEditForm, SubscriptionForm
from .models import Subscription


def may_see_subscriptions(user: Any) -> bool:
    return reaches(user, "exchange") or bool(selectors.handler_unit_ids(user))


def _require_page(user: Any) -> None:
    if not may_see_subscriptions(user):
        raise PermissionDenied(_("Your roles do not include this page."))


def _crumbs(title: str) -> list[dict[str, str]]:
    return [
        {"name": _("Data sharing"), "url": reverse("exchange:subscriptions")},
        {"name": title, "url": ""},
    ]


def _visible(request: AuthedRequest, pk: int) -> Subscription:
    return get_object_or_404(selectors.visible_subscriptions(request.user), pk=pk)


def _managed(request: AuthedRequest, pk: int) -> Subscription:
    subscription = _visible(request, pk)
    if not can(request.user, subscription, Action.CHANGE):
        raise PermissionDenied(_("You may not change this subscription."))
    return subscription


@login_required
def subscriptions(request: AuthedRequest) -> HttpResponse:
    _require_page(request.user)
    qs = selectors.visible_subscriptions(request.user)
    state = request.GET.get("state", "")
    if state == "stuck":
        qs = qs.filter(delivery__stuck=True)
    elif state == "paused":
        qs = qs.filter(paused=True)
    elif state == "inactive":
        qs = qs.filter(is_active=False)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    head = selectors.head()
    types = dict(RecordType.choices)
    classes = dict(FieldClass.choices)
    rows = []
    for sub in page:
        delivery = getattr(sub, "delivery", None)
        rows.append(
            {
                "sub": sub,
                "delivery": delivery,
                "types": [str(types.get(t, t)) for t in sub.record_types],
                "classes": [str(classes.get(c, c)) for c in sub.field_classes],
                "lag": max(0, head - delivery.delivered_seq) if delivery else None,
                "may_change": can(request.user, sub, Action.CHANGE),
            }
        )
    return render(
        request,
        "exchange/subscriptions.html",
        {
            "page_obj": page,
            "rows": rows,
            "head": head,
            "state": state,
            "may_create": reaches(request.user, "exchange", Action.CHANGE),
        },
    )


def _show_secret(request: AuthedRequest, subscription: Subscription, secret: str) -> HttpResponse:
    response = render(
        request,
        "exchange/secret.html",
        {
            "subscription": subscription,
            "secret": secret,
            "crumbs": _crumbs(_("Signing secret")),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@login_required
def subscription_create(request: AuthedRequest) -> HttpResponse:
    if not reaches(request.user, "exchange", Action.CHANGE):
        raise PermissionDenied(_("You may not manage subscriptions."))
    form = SubscriptionForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done = run_action(form, lambda: actions.do_create_subscription(actor=request.user, **data))
        if done is not None:
            subscription, secret = done
            messages.success(request, _("The subscription is created."))
            if secret:
                return _show_secret(request, subscription, secret)
            return redirect("exchange:subscriptions")
    title = _("New subscription")
    return render(
        request,
        "web/form_page.html",
        {
            "form": form,
            "title": title,
            "cancel_url": reverse("exchange:subscriptions"),
            "crumbs": _crumbs(title),
        },
    )


@never_cache
@login_required
def subscription_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    subscription = _managed(request, pk)
    initial = {
        "name": subscription.name,
        "record_types": subscription.record_types,
        "field_classes": subscription.field_classes,
        "division": subscription.division.code,
        "webhook_url": subscription.webhook_url,
        "is_active": subscription.is_active,
    }
    form = SubscriptionEditForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done = run_action(
            form,
            lambda: actions.do_update_subscription(subscription, actor=request.user, **data),
        )
        if done is not None:
            updated, secret = done
            messages.success(request, _("Saved."))
            if secret:
                return _show_secret(request, updated, secret)
            return redirect("exchange:subscriptions")
    title = _("Edit subscription of %(unit)s") % {"unit": subscription.unit.name}
    return render(
        request,
        "web/form_page.html",
        {
            "form": form,
            "title": title,
            "cancel_url": reverse("exchange:subscriptions"),
            "crumbs": _crumbs(title),
        },
    )


@never_cache
@login_required
@require_POST
def subscription_rotate(request: AuthedRequest, pk: int) -> HttpResponse:
    subscription = _managed(request, pk)
    secret = actions.do_rotate_secret(subscription, actor=request.user)
    subscription.refresh_from_db()
    messages.success(request, _("A new secret is set; the old one no longer signs deliveries."))
    return _show_secret(request, subscription, secret)


@login_required
@require_POST
def subscription_retry(request: AuthedRequest, pk: int) -> HttpResponse:
    subscription = _managed(request, pk)
    try:
        actions.do_retry_delivery(subscription, actor=request.user)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, _("Delivery is queued to run now."))
    return redirect("exchange:subscriptions")


@login_required
@require_POST
def subscription_pause(request: AuthedRequest, pk: int) -> HttpResponse:
    subscription = _managed(request, pk)
    what = request.POST.get("do")
    if what not in {"pause", "resume"}:
        messages.error(request, _("Choose to pause or to resume."))
        return redirect("exchange:subscriptions")
    actions.do_pause_delivery(subscription, actor=request.user, paused=what == "pause")
    messages.success(
        request,
        _("Delivery is paused.") if what == "pause" else _("Delivery is resumed."),
    )
    return redirect("exchange:subscriptions")
