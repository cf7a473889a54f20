from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from .models import ApiToken, hash_token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>` (or `Bearer <key>`), checked against stored hashes."""

    keywords = ("token", "bearer")

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        try:
            key = header[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token header.")) from exc
        token = ApiToken.objects.select_related("user").filter(digest=hash_token(key)).first()
        if token is None or token.is_expired:
            raise exceptions.AuthenticationFailed(_("Invalid or expired token."))
        user = token.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("The account is deactivated."))
        now = timezone.now()
        # Written at most once a minute per token: a hot client must not turn reads into writes.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token

    def authenticate_header(self, request: Any) -> str:
        return "Token"
