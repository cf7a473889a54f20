from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from civicgrid.accounts.models import Unit, User
from civicgrid.accounts.roles import Role
from civicgrid.catalog.choices import Priority
from civicgrid.catalog.models import CaseCategory
from civicgrid.web.forms import StyledForm

from .choices import Channel
from .models import Case


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Zero or more files from one <input type=file multiple>."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*,application/pdf"}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


def category_choices() -> list[tuple[str, Any]]:
    """Minor classes grouped under their major class (a major without minors stands alone)."""
    categories = list(CaseCategory.objects.filter(is_active=True).select_related("parent"))
    majors = [c for c in categories if c.parent_id is None]
    choices: list[tuple[str, Any]] = [("", "—")]
    for major in majors:
        minors = [(c.code, c.label) for c in categories if c.parent_id == major.pk]
        choices.append((major.label, minors) if minors else (major.code, major.label))
    return choices


def channel_choices(user: Any) -> list[tuple[str, Any]]:
    roles = {r for r, _p in user.assignment_pairs()}
    if roles & {Role.GRID_WORKER, Role.GRID_LEADER} and not roles & {Role.CENTRE_STAFF}:
        keys = [Channel.GRID_APP]
    elif Role.CENTRE_STAFF in roles:
        keys = [Channel.CENTRE, Channel.HOTLINE, Channel.CITIZEN, Channel.HIGHER, Channel.SENSOR]
    else:
        keys = [Channel.DEPARTMENT]
    return [(k, Channel(k).label) for k in keys]


class ReportForm(StyledForm):
    category = forms.ChoiceField(label=_("Category"))
    title = forms.CharField(
        label=_("Title"),
        max_length=120,
        required=False,
        help_text=_("A few words; empty: the start of the description."),
    )
    description = forms.CharField(
        label=_("What is wrong"), max_length=4000, widget=forms.Textarea(attrs={"rows": 4})
    )
    lat = forms.FloatField(widget=forms.HiddenInput, required=False, min_value=-90, max_value=90)
    lng = forms.FloatField(widget=forms.HiddenInput, required=False, min_value=-180, max_value=180)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    division = forms.CharField(
        label=_("Division code"),
        max_length=15,
        required=False,
        help_text=_("Only needed when no point is set on the map."),
    )
    channel = forms.ChoiceField(label=_("Channel"))
    priority = forms.TypedChoiceField(
        label=_("Priority"),
        coerce=int,
        choices=[("", _("the category's default")), *Priority.choices],
        required=False,
        empty_value=None,
    )
    reporter_name = forms.CharField(label=_("Caller's name"), max_length=60, required=False)
    reporter_phone = forms.CharField(label=_("Caller's phone"), max_length=30, required=False)
    files = MultipleFileField(label=_("Photos or documents"))  # type: ignore[assignment]
    register = forms.BooleanField(label=_("File it at once (立案)"), required=False)
    self_resolve = forms.BooleanField(label=_("I resolved it on the spot"), required=False)
    note = forms.CharField(
        label=_("How it was resolved"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices()  # type: ignore[attr-defined]
        self.fields["channel"].choices = channel_choices(user)  # type: ignore[attr-defined]
        roles = {r for r, _p in user.assignment_pairs()}
        if Role.CENTRE_STAFF not in roles:
            for name in ("register", "reporter_name", "reporter_phone"):
                del self.fields[name]
        if not roles & {Role.GRID_WORKER, Role.GRID_LEADER}:
            del self.fields["self_resolve"]
            del self.fields["note"]


class ActionForm(StyledForm):
    """The form behind one action button on the case page."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, case: Case, name: str, user: Any, **kwargs: Any) -> None:
        from .workflow import TRANSITIONS

        super().__init__(*args, **kwargs)
        self.name = name
        transition = TRANSITIONS[name]
        self.fields["note"].required = transition.note_required
        if transition.note_required:
            self.fields["note"].label = _("Reason or note")
        if name in {"dispatch", "transfer"}:
            units = serving_units(case).exclude(
                pk=case.owner_unit_id if name == "transfer" else None
            )
            self.fields["unit"] = forms.ModelChoiceField(
                label=_("Handling unit"), queryset=units, required=name == "transfer"
            )
        if name == "dispatch":
            self.fields["co_units"] = forms.ModelMultipleChoiceField(
                label=_("Co-handlers (joint handling)"),
                queryset=serving_units(case),
                required=False,
                widget=forms.SelectMultiple(attrs={"size": 4}),
            )
        if name == "merge":
            self.fields["into"] = forms.CharField(
                label=_("Duplicate of case number"), max_length=24
            )
        if name == "start_check":
            self.fields["checker"] = forms.ModelChoiceField(
                label=_("Who checks on site"), queryset=possible_checkers(case), required=False
            )
        if name == "evaluate":
            self.fields["satisfaction"] = forms.TypedChoiceField(
                label=_("Satisfaction"),
                coerce=int,
                choices=[
                    (5, _("5 very satisfied")),
                    (4, _("4 satisfied")),
                    (3, _("3 so-so")),
                    (2, _("2 dissatisfied")),
                    (1, _("1 very dissatisfied")),
                ],
            )
        if name in {"progress", "feedback", "pass_check", "fail_check", "self_resolve"}:
            self.fields["files"] = MultipleFileField(label=_("Photos"))
        for field in self.fields.values():  # new fields need the Bootstrap classes too
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            if not isinstance(field.widget, forms.HiddenInput):
                field.widget.attrs.setdefault("class", css)


def serving_units(case: Case) -> Any:
    """Units that may handle the case: at its place, above it or below it."""
    ancestors = [
        case.division_path[:n] for n in (2, 4, 6, 9, 12, 15) if n <= len(case.division_path)
    ]
    return (
        Unit.objects.filter(is_active=True)
        .filter(Q(division_path__in=ancestors) | Q(division_path__startswith=case.division_path))
        .select_related("division")
        .order_by("-division_path", "kind", "name")
    )


def possible_checkers(case: Case) -> Any:
    ancestors = [
        case.division_path[:n] for n in (2, 4, 6, 9, 12, 15) if n <= len(case.division_path)
    ]
    return (
        User.objects.filter(
            is_active=True,
            assignments__role__in=[Role.GRID_WORKER, Role.GRID_LEADER, Role.CENTRE_STAFF],
            assignments__division_path__in=ancestors,
        )
        .distinct()
        .order_by("-division_path", "username")
    )
