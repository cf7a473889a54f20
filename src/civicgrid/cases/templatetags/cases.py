from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

from civicgrid.cases.choices import Status
from civicgrid.cases.workflow import TRANSITIONS

register = template.Library()


@register.filter
def action_label(name: str) -> str:
    if name == "report":
        return _("Reported")
    transition = TRANSITIONS.get(name)
    return str(transition.label) if transition else name


@register.filter
def status_label(value: str) -> str:
    try:
        return str(Status(value).label)
    except ValueError:
        return value or "—"
