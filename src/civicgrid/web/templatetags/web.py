from __future__ import annotations

from typing import Any

from django import template
from django.utils.http import urlencode

register = template.Library()


@register.simple_tag(takes_context=True)
def query_with(context: dict[str, Any], **changes: Any) -> str:
    """The current query string with some parameters replaced (for pagination links)."""
    request = context["request"]
    params = request.GET.copy()
    for key, value in changes.items():
        params[key] = value
    return urlencode(sorted(params.lists()), doseq=True)


@register.filter
def get_item(mapping: dict[Any, Any], key: Any) -> Any:
    return mapping.get(key)


@register.filter
def sizing_label(value: str) -> str:
    from civicgrid.geo.choices import SizingStatus

    try:
        return str(SizingStatus(value).label)
    except ValueError:
        return value
