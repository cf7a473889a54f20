from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.core.scoping import Action
from civicgrid.geo.models import Division
from civicgrid.web.forms import StyledForm

from .choices import UnitKind
from .models import DepartmentType, Unit
from .roles import Role


class DivisionCodeField(forms.CharField):
    """A division typed by its code, resolved among the divisions the user may see."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 15)
        kwargs.setdefault(
            "help_text", gettext_lazy("Statistical code, e.g. 371602 or 371602001001.")
        )
        super().__init__(*args, **kwargs)
        self.user: Any = None

    def clean(self, value: Any) -> Division | None:
        code = super().clean(value)
        if not code:
            return None
        division = (
            Division.objects.restrict(self.user, Action.VIEW)
            .filter(code=code.strip(), is_active=True)
            .first()
        )
        if division is None:
            raise ValidationError(
                _("No division with code %(code)s in your area.") % {"code": code}
            )
        return division


class UserScopedForm(StyledForm):
    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        for field in self.fields.values():
            if isinstance(field, DivisionCodeField):
                field.user = user


class UserCreateForm(UserScopedForm):
    username = forms.CharField(label=gettext_lazy("User name"), max_length=150)
    full_name = forms.CharField(label=gettext_lazy("Full name"), max_length=100, required=False)
    email = forms.EmailField(label=gettext_lazy("Email"), required=False)
    division = DivisionCodeField(label=gettext_lazy("Home division (code)"))
    password = forms.CharField(
        label=gettext_lazy("Initial password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy("At least 10 characters, not only digits, not a common password."),
    )


class UserEditForm(UserScopedForm):
    full_name = forms.CharField(label=gettext_lazy("Full name"), max_length=100, required=False)
    email = forms.EmailField(label=gettext_lazy("Email"), required=False)
    division = DivisionCodeField(label=gettext_lazy("Home division (code)"))


class ResetPasswordForm(StyledForm):
    password = forms.CharField(
        label=gettext_lazy("New password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class GrantForm(UserScopedForm):
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices)
    division = DivisionCodeField(label=gettext_lazy("At division (code)"), required=False)
    unit = forms.ModelChoiceField(
        label=gettext_lazy("Unit"),
        queryset=Unit.objects.none(),
        required=False,
        help_text=gettext_lazy(
            "Department handlers belong to a department or social organisation."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = (  # type: ignore[attr-defined]
            Unit.objects.restrict(self.user, Action.VIEW)
            .filter(is_active=True, kind__in=[UnitKind.DEPARTMENT, UnitKind.SOCIAL_ORG])
            .select_related("division")
            .order_by("division_path", "name")
        )


class UnitForm(UserScopedForm):
    division = DivisionCodeField(label=gettext_lazy("Division (code)"))
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=UnitKind.choices)
    department_type = forms.ModelChoiceField(
        label=gettext_lazy("Department type"),
        queryset=DepartmentType.objects.filter(is_active=True),
        required=False,
    )
    phone = forms.CharField(label=gettext_lazy("Duty phone"), max_length=40, required=False)


class UnitEditForm(UnitForm):
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["division"]
