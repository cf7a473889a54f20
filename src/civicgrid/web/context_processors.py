from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, Any]:
    from .navigation import menu_for

    user = getattr(request, "user", None)
    unread = 0
    if user is not None and user.is_authenticated:
        from civicgrid.core.models import Notification

        unread = Notification.objects.filter(user=user, read_at__isnull=True).count()
    return {"nav_items": menu_for(request), "unread_notifications": unread}
