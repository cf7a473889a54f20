"""Categories and SLA policies are edited in the admin site by the installation superuser;
every change is audited, bad extra-field specs are refused naming the problem, and nobody
else reaches these pages."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client

from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Role
from civicgrid.catalog.models import CaseCategory, SlaLimit, SlaPolicy
from civicgrid.core.models import ObjectChange

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(world) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="root-pass-12345"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _category_form(category: CaseCategory, **changes) -> dict:
    data = {
        "name": category.name,
        "name_en": category.name_en,
        "parent": category.parent_id or "",
        "task_class": category.task_class,
        "is_active": "on" if category.is_active else "",
        "default_priority": category.default_priority,
        "sla_policy": category.sla_policy_id or "",
        "filing_criterion": category.filing_criterion,
        "closing_criterion": category.closing_criterion,
        "extra_fields": json.dumps(category.extra_fields),
        "sort_order": category.sort_order,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_superuser_edits_a_category_and_it_is_audited(root):
    category = CaseCategory.objects.get(code="environment.rubbish")
    url = f"/admin/catalog/casecategory/{category.pk}/change/"
    assert root.get(url).status_code == 200
    fields = [{"name": "bags", "label": "袋数", "type": "integer", "required": True}]
    response = root.post(url, _category_form(category, extra_fields=json.dumps(fields)))
    assert response.status_code == 302, response.context["adminform"].form.errors
    category.refresh_from_db()
    assert category.extra_fields == fields
    change = ObjectChange.objects.filter(content_type__model="casecategory").latest("pk")
    assert change.kind == "update" and change.actor.username == "root"
    assert "extra_fields" in json.dumps(change.before)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "x"}, "A list of fields"),
        ([{"name": "Bad Name", "label": "x"}], "Field 1: name must be lower-case letters"),
        ([{"name": "a", "label": "x"}, {"name": "a", "label": "y"}], "Field 2: the name a"),
        ([{"name": "a", "label": "x", "type": "date"}], "Field 1: type must be one of"),
        ([{"name": "a", "label": "x", "type": "choice"}], "Field 1: a choice field lists"),
        ([{"name": "a", "label": ""}], "Field 1: give a label."),
        ([{"name": "a", "label": "x", "colour": "red"}], "Field 1: unknown keys colour."),
    ],
)
def test_bad_extra_fields_are_refused_and_nothing_changes(root, fields, message):
    category = CaseCategory.objects.get(code="environment.rubbish")
    before = ObjectChange.objects.count()
    response = root.post(
        f"/admin/catalog/casecategory/{category.pk}/change/",
        _category_form(category, extra_fields=json.dumps(fields)),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in errors["extra_fields"][0], errors
    assert ObjectChange.objects.count() == before
    assert CaseCategory.objects.get(pk=category.pk).extra_fields == []


def test_categories_have_two_levels(root):
    major = CaseCategory.objects.get(code="environment")
    minor = CaseCategory.objects.get(code="environment.rubbish")
    other = CaseCategory.objects.get(code="facility.manhole")
    response = root.post(
        f"/admin/catalog/casecategory/{other.pk}/change/", _category_form(other, parent=minor.pk)
    )
    assert "Choose a major class" in response.context["adminform"].form.errors["parent"][0]
    response = root.post(
        f"/admin/catalog/casecategory/{major.pk}/change/",
        _category_form(major, parent=CaseCategory.objects.get(code="facility").pk),
    )
    assert "stays a major class" in response.context["adminform"].form.errors["parent"][0]


def test_superuser_adds_a_policy_with_limits_and_each_is_audited(root):
    data = {
        "code": "leak-4h",
        "name": "漏水：4小时",
        "name_en": "Leak: 4 hours",
        "warn_ratio": "0.75",
        "limits-TOTAL_FORMS": "2",
        "limits-INITIAL_FORMS": "0",
        "limits-MIN_NUM_FORMS": "1",
        "limits-MAX_NUM_FORMS": "1000",
        "limits-0-stage": "accept",
        "limits-0-order": "1",
        "limits-0-amount": "0.5",
        "limits-0-unit": "urgent_hours",
        "limits-1-stage": "handle",
        "limits-1-order": "1",
        "limits-1-amount": "4",
        "limits-1-unit": "urgent_hours",
    }
    response = root.post("/admin/catalog/slapolicy/add/", data)
    assert response.status_code == 302
    policy = SlaPolicy.objects.get(code="leak-4h")
    assert policy.limits.count() == 2
    models = list(
        ObjectChange.objects.filter(content_type__app_label="catalog")
        .order_by("pk")
        .values_list("content_type__model", "kind")
    )
    assert models == [("slapolicy", "create"), ("slalimit", "create"), ("slalimit", "create")]

    # Change one limit and remove the other: an update and a delete row.
    limits = list(policy.limits.order_by("stage"))
    change = {
        "name": policy.name,
        "name_en": policy.name_en,
        "warn_ratio": "0.75",
        "limits-TOTAL_FORMS": "2",
        "limits-INITIAL_FORMS": "2",
        "limits-MIN_NUM_FORMS": "1",
        "limits-MAX_NUM_FORMS": "1000",
    }
    for i, limit in enumerate(limits):
        change.update(
            {
                f"limits-{i}-id": limit.pk,
                f"limits-{i}-policy": policy.pk,
                f"limits-{i}-stage": limit.stage,
                f"limits-{i}-order": limit.order,
                f"limits-{i}-amount": "1" if limit.stage == "accept" else str(limit.amount),
                f"limits-{i}-unit": limit.unit,
            }
        )
    change["limits-1-DELETE"] = "on"
    response = root.post(f"/admin/catalog/slapolicy/{policy.pk}/change/", change)
    assert response.status_code == 302
    assert list(SlaLimit.objects.filter(policy=policy).values_list("stage", "amount")) == [
        ("accept", 1)
    ]
    kinds = list(
        ObjectChange.objects.filter(content_type__model="slalimit")
        .order_by("pk")
        .values_list("kind", flat=True)
    )
    assert kinds == ["create", "create", "delete", "update"]


def test_a_bad_limit_writes_nothing(root):
    data = {
        "code": "bad",
        "name": "坏",
        "warn_ratio": "1.5",
        "limits-TOTAL_FORMS": "1",
        "limits-INITIAL_FORMS": "0",
        "limits-MIN_NUM_FORMS": "1",
        "limits-MAX_NUM_FORMS": "1000",
        "limits-0-stage": "accept",
        "limits-0-order": "1",
        "limits-0-amount": "0",
        "limits-0-unit": "urgent_hours",
    }
    response = root.post("/admin/catalog/slapolicy/add/", data)
    assert response.status_code == 200
    assert "warn_ratio" in response.context["adminform"].form.errors
    assert not SlaPolicy.objects.filter(code="bad").exists()


@pytest.mark.parametrize("role", [Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN])
def test_administrators_other_than_the_superuser_cannot_edit_the_catalog(world, role):
    client = Client()
    client.force_login(world.user(role, "C"))
    category = CaseCategory.objects.get(code="environment.rubbish")
    for url in (
        "/admin/catalog/casecategory/",
        f"/admin/catalog/casecategory/{category.pk}/change/",
        "/admin/catalog/slapolicy/add/",
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/admin/catalog/casecategory/{category.pk}/change/", {}).status_code == 403
