"""Request type for views behind login_required: the user is one of ours, never anonymous."""

from __future__ import annotations

from django.http import HttpRequest

from civicgrid.accounts.models import User


class AuthedRequest(HttpRequest):
    user: User
