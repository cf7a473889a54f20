from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from .actions import do_record_login_failure, do_record_login_success


@receiver(user_login_failed)
def count_failure(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
    username = credentials.get("username")
    if username:
        do_record_login_failure(str(username))


@receiver(user_logged_in)
def reset_failures(sender: Any, user: Any, **kwargs: Any) -> None:
    do_record_login_success(user)
