"""The menu each user sees: only the pages their roles can use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from civicgrid.core.scoping import reaches


@dataclass(frozen=True)
class NavItem:
    label: Any
    url_name: str
    data_class: str | None  # shown when the user may view this data class (None: everyone)
    action: str = "view"
    check: Callable[[Any], bool] | None = None  # instead of the data class, when it says more


def _exchange(user: Any) -> bool:
    from civicgrid.exchange.views import may_see_subscriptions

    return may_see_subscriptions(user)


def _cases(user: Any) -> bool:
    from civicgrid.cases.views import may_see_cases

    return may_see_cases(user)


def _field_app(user: Any) -> bool:
    # Grid workers and grid leaders of a grid record field work on their phones.
    from civicgrid.fieldwork.selectors import field_grid_paths

    return bool(field_grid_paths(user))


ITEMS = [
    NavItem(_("Home"), "web:home", None),
    NavItem(_("Cases"), "cases:list", None, check=_cases),
    NavItem(_("Insights"), "insights:dashboard", "insights"),
    NavItem(_("Field work"), "fieldwork:duties", "field"),
    NavItem(_("Field app"), "fieldwork:app", None, check=_field_app),
    NavItem(_("Basic information"), "registry:home", "registry"),
    NavItem(_("Map"), "geo:map", "geo"),
    NavItem(_("Divisions and grids"), "geo:divisions", "geo"),
    NavItem(_("Sizing and coverage"), "geo:sizing", "geo"),
    NavItem(_("Catalog"), "catalog:index", None),
    NavItem(_("Units"), "accounts:units", "org"),
    NavItem(_("Users"), "accounts:users", "account"),
    NavItem(_("Imports"), "geo:imports", "import", "change"),
    NavItem(_("Data sharing"), "exchange:subscriptions", None, check=_exchange),
    NavItem(_("Audit trail"), "core:changes", "audit"),
]


def allowed(user: Any, data_class: str | None, action: str = "view") -> bool:
    return data_class is None or reaches(user, data_class, action)


def menu_for(request: HttpRequest) -> list[dict[str, Any]]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    current = request.path
    items = []
    for item in ITEMS:
        visible = item.check(user) if item.check else allowed(user, item.data_class, item.action)
        if not visible:
            continue
        url = reverse(item.url_name)
        active = current == url if url == "/" else current.startswith(url)
        items.append({"label": item.label, "url": url, "active": active})
    # One page, one active item: the longest matching address (/field/duties/ over /field/).
    longest = max((len(i["url"]) for i in items if i["active"]), default=0)
    for entry in items:
        entry["active"] = entry["active"] and len(entry["url"]) == longest
    return items
