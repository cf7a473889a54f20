from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, Any]:
    from .navigation import menu_for

    return {"nav_items": menu_for(request)}
