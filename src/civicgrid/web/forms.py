"""Form helpers shared by every app's pages: Bootstrap widget classes and running an action so
that its ValidationError lands on the form fields it names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

T = TypeVar("T")


class StyledFormMixin:
    """Adds Bootstrap classes to widgets, and is-invalid to fields with errors."""

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select | forms.SelectMultiple):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        for name in getattr(self, "errors", {}):
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()
                widget.attrs["aria-invalid"] = "true"


class StyledForm(StyledFormMixin, forms.Form):
    pass


def run_action(form: forms.Form, action: Callable[[], T]) -> T | None:
    """Call an action; put its validation errors on the form (by field name, else on top).
    Returns the action's result, or None when it refused."""
    try:
        return action()
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for name, errors in exc.error_dict.items():
                target = name if name in form.fields else None
                for error in errors:
                    for message in error.messages:
                        form.add_error(target, message)
        else:
            for message in exc.messages:
                form.add_error(None, message)
        return None


class LoginForm(StyledFormMixin, AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": gettext_lazy(
            "Wrong user name or password. After several failed attempts the account is locked "
            "for a while."
        ),
    }

    def clean(self) -> dict[str, Any]:
        from civicgrid.accounts.models import User

        username = self.cleaned_data.get("username")
        if username:
            user = User.objects.filter(username__iexact=username).only("locked_until").first()
            if user is not None and user.is_locked:
                assert user.locked_until is not None
                raise ValidationError(
                    _(
                        "This account is locked after repeated failed logins until %(time)s. Ask "
                        "your administrator to unlock it, or try again later."
                    )
                    % {"time": date_format(localtime(user.locked_until), "H:i")},
                    code="locked",
                )
        return super().clean()
