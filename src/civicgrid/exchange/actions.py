"""Every write to subscriptions and to their delivery state that a person makes (ARCHITECTURE
rule 1): validate, check the actor's area, write in one transaction, one audit row.

The system administrators of an area manage the subscriptions placed in it; both the
subscribing unit and the area it receives must lie within theirs. A webhook's secret is created
here, stored encrypted (core.crypto) and handed back once, to be shown once; audit rows record
that it changed, never its value. What the delivery worker writes (exchange/webhooks.py) is
operational state, like a job's progress, and is not audited row by row.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.models import Unit
from civicgrid.core import crypto
from civicgrid.core.audit import record_change, snapshot
from civicgrid.core.models import ChangeKind
from civicgrid.core.paths import is_under
from civicgrid.core.scoping import Action, can, reaches
from civicgrid.geo.models import Division

from .fields import FieldClass, RecordType
from .models import Delivery, Subscription

SECRET_PURPOSE = "exchange.subscription.secret"
SECRET_PREFIX = "whsec_"
URL_MAX = 500
NAME_MAX = 80
SUBSCRIBING_KINDS = (UnitKind.DEPARTMENT, UnitKind.SOCIAL_ORG)


# --- checks -----------------------------------------------------------------------------------
def _reaches(actor: Any, path: str) -> bool:
    if actor is None:
        return True
    paths = actor.scope_paths("exchange", Action.CHANGE)
    return paths is None or any(is_under(path, p) for p in paths)


def _require_manager(actor: Any, subscription: Subscription) -> None:
    if actor is not None and not can(actor, subscription, Action.CHANGE):
        raise PermissionDenied(_("You may not change this subscription."))


def _choices(values: Iterable[str] | None, allowed: list[str], field: str) -> list[str]:
    chosen = [str(v).strip() for v in (values or []) if str(v).strip()]
    if not chosen:
        raise ValidationError({field: _("Choose at least one.")})
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        raise ValidationError(
            {
                field: _("Unknown: %(values)s. Choose among: %(choices)s.")
                % {"values": ", ".join(unknown), "choices": ", ".join(allowed)}
            }
        )
    return [v for v in allowed if v in set(chosen)]  # canonical order, no repeats


def clean_webhook_url(value: str | None) -> str:
    """An http(s) URL with a host and no user name or password in it (it would show on every
    page that lists the subscription), or empty for no webhook."""
    url = (value or "").strip()
    if not url:
        return ""
    if len(url) > URL_MAX:
        raise ValidationError({"webhook_url": _("At most %(n)d characters.") % {"n": URL_MAX}})
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError({"webhook_url": _("This is not a valid URL.")}) from exc
    if parts.scheme not in {"http", "https"}:
        raise ValidationError({"webhook_url": _("The URL must start with http:// or https://.")})
    if not parts.hostname:
        raise ValidationError({"webhook_url": _("The URL names no host.")})
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            {"webhook_url": _("Put no user name or password in the URL: the secret signs it.")}
        )
    if port == 0:
        raise ValidationError({"webhook_url": _("This is not a valid URL.")})
    if any(c.isspace() for c in url):
        raise ValidationError({"webhook_url": _("This is not a valid URL.")})
    return url


def _clean_unit(actor: Any, unit: Unit | None) -> Unit:
    if unit is None:
        raise ValidationError({"unit": _("Choose the subscribing unit.")})
    if not unit.is_active:
        raise ValidationError({"unit": _("This unit is no longer active.")})
    if unit.kind not in SUBSCRIBING_KINDS:
        raise ValidationError(
            {"unit": _("Only departments and social organisations subscribe to the feed.")}
        )
    if not _reaches(actor, unit.division_path):
        raise ValidationError({"unit": _("This unit is outside your area.")})
    return unit


def _clean_division(actor: Any, division: Division | None, unit: Unit) -> Division:
    area = division or unit.division
    if not area.is_active:
        raise ValidationError({"division": _("This division is no longer active.")})
    if not _reaches(actor, area.path):
        raise ValidationError({"division": _("This division is outside your area.")})
    return area


def _clean_name(value: str | None) -> str:
    name = (value or "").strip()
    if len(name) > NAME_MAX:
        raise ValidationError({"name": _("At most %(n)d characters.") % {"n": NAME_MAX}})
    return name


# --- secrets ----------------------------------------------------------------------------------
def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _set_secret(subscription: Subscription) -> str:
    secret = new_secret()
    subscription.secret_enc = crypto.encrypt(secret, SECRET_PURPOSE)
    subscription.secret_hint = secret[: len(SECRET_PREFIX) + 4]
    return secret


def secret_of(subscription: Subscription) -> str:
    """The clear secret, for signing a delivery (never for display after creation)."""
    if not subscription.secret_enc:
        return ""
    return crypto.decrypt(subscription.secret_enc, SECRET_PURPOSE)


# --- subscriptions ----------------------------------------------------------------------------
def do_create_subscription(
    *,
    actor: Any,
    unit: Unit | None,
    record_types: Iterable[str] | None,
    field_classes: Iterable[str] | None,
    division: Division | None = None,
    webhook_url: str | None = "",
    name: str | None = "",
    is_active: bool = True,
) -> tuple[Subscription, str]:
    """A new subscription and, when it has a webhook, the secret that signs its deliveries —
    returned this once, to be shown to the person who created it."""
    if actor is not None and not reaches(actor, "exchange", Action.CHANGE):
        raise PermissionDenied(_("You may not manage subscriptions."))
    errors: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for key, clean in (
        ("name", lambda: _clean_name(name)),
        ("record_types", lambda: _choices(record_types, RecordType.values, "record_types")),
        ("field_classes", lambda: _choices(field_classes, FieldClass.values, "field_classes")),
        ("webhook_url", lambda: clean_webhook_url(webhook_url)),
        ("unit", lambda: _clean_unit(actor, unit)),
    ):
        try:
            values[key] = clean()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "unit" in values:
        try:
            values["division"] = _clean_division(actor, division, values["unit"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    subscription = Subscription(
        **values,
        division_path=values["division"].path,
        is_active=bool(is_active),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    secret = _set_secret(subscription) if subscription.webhook_url else ""
    with transaction.atomic():
        subscription.save()
        Delivery.objects.create(subscription=subscription)
        after = snapshot(subscription)
        after["secret_set"] = bool(secret)
        record_change(
            subscription,
            ChangeKind.CREATE,
            actor=actor,
            action="create_subscription",
            after=after,
        )
    return subscription, secret


EDITABLE = ("name", "record_types", "field_classes", "division", "webhook_url", "is_active")


def do_update_subscription(
    subscription: Subscription, *, actor: Any, **changes: Any
) -> tuple[Subscription, str]:
    """Change some of a subscription's settings (any of EDITABLE). Setting a webhook where
    there was none creates its secret (returned once); a new URL also restarts the retry
    count, since the old endpoint's failures say nothing about the new one."""
    _require_manager(actor, subscription)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError({"__all__": _("These settings cannot be changed here.")})
    errors: dict[str, Any] = {}
    values: dict[str, Any] = {}
    cleaners = {
        "name": lambda v: _clean_name(v),
        "record_types": lambda v: _choices(v, RecordType.values, "record_types"),
        "field_classes": lambda v: _choices(v, FieldClass.values, "field_classes"),
        "webhook_url": lambda v: clean_webhook_url(v),
        "division": lambda v: _clean_division(actor, v, subscription.unit),
        "is_active": lambda v: bool(v),
    }
    for key, value in changes.items():
        try:
            values[key] = cleaners[key](value)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        _require_manager(actor, locked)
        before = snapshot(locked)
        url_changed = "webhook_url" in values and values["webhook_url"] != locked.webhook_url
        for key, value in values.items():
            setattr(locked, key, value)
        if "division" in values:
            locked.division_path = values["division"].path
        secret = ""
        if locked.webhook_url and not locked.secret_enc:
            secret = _set_secret(locked)
        after = snapshot(locked)
        if after == before and not secret:
            return locked, ""
        locked.save()
        if url_changed:
            Delivery.objects.filter(pk=locked.pk).update(
                attempts=0, stuck=False, next_attempt_at=None, last_error=""
            )
        after["secret_set"] = bool(secret)
        record_change(
            locked,
            ChangeKind.UPDATE,
            actor=actor,
            action="update_subscription",
            before=before,
            after=after,
        )
    return locked, secret


def do_rotate_secret(subscription: Subscription, *, actor: Any) -> str:
    """A new signing secret, returned once; the old one stops working at once."""
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        _require_manager(actor, locked)
        before = snapshot(locked)
        secret = _set_secret(locked)
        locked.save(update_fields=["secret_enc", "secret_hint", "updated_at"])
        after = snapshot(locked)
        after["secret_rotated"] = True
        record_change(
            locked,
            ChangeKind.UPDATE,
            actor=actor,
            action="rotate_secret",
            before=before,
            after=after,
        )
    return secret


def do_pause_delivery(subscription: Subscription, *, actor: Any, paused: bool) -> Subscription:
    """Stop (or resume) pushing to the webhook; the position is kept, so resuming delivers
    everything since. Pulling the feed is not affected."""
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        _require_manager(actor, locked)
        if locked.paused == paused:
            return locked
        before = snapshot(locked)
        locked.paused = paused
        locked.save(update_fields=["paused", "updated_at"])
        record_change(
            locked,
            ChangeKind.UPDATE,
            actor=actor,
            action="pause_delivery" if paused else "resume_delivery",
            before=before,
        )
    return locked


DELIVERY_STATE = ("delivered_seq", "attempts", "next_attempt_at", "stuck", "last_error")


def do_retry_delivery(subscription: Subscription, *, actor: Any) -> Delivery:
    """Deliver now: forget the failed attempts (a stuck delivery starts again) and queue a run
    for this subscription at once."""
    if not subscription.webhook_url:
        raise ValidationError({"webhook_url": _("This subscription has no webhook.")})
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        _require_manager(actor, locked)
        delivery, _created = Delivery.objects.get_or_create(subscription=locked)
        before = snapshot(delivery, DELIVERY_STATE)
        delivery.attempts = 0
        delivery.stuck = False
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["attempts", "stuck", "next_attempt_at"])
        record_change(
            locked,
            ChangeKind.UPDATE,
            actor=actor,
            action="retry_delivery",
            before=before,
            after=snapshot(delivery, DELIVERY_STATE),
        )
        pk = locked.pk
        transaction.on_commit(lambda: _enqueue_delivery(pk))
    return delivery


def _enqueue_delivery(pk: int) -> None:
    from .tasks import deliver_subscription

    deliver_subscription.enqueue(pk)
