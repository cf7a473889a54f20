"""The demo's basic information: valid numbers, plausible families, care visits falling due,
hazard sources — and rows exactly like the ones the actions write (encrypted, masked, searchable,
audited, changeable through the actions)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone
from stdnum.cn import ric

from civicgrid.accounts.models import User
from civicgrid.core.models import ObjectChange
from civicgrid.core.validators import normalise_phone, parse_identity, validate_uscc
from civicgrid.demo.registry import BUDGET_SMALL, DENSE
from civicgrid.registry import actions, protect, selectors
from civicgrid.registry.models import (
    Building,
    CareTag,
    House,
    Household,
    Organisation,
    Place,
    Resident,
)

from ..geo.helpers import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    result = run("demo_city", "--preset", "small", "--seed", "5", "--cases", "0")
    assert result.ok, result.text
    return User.objects.get(username="gridworker")


def test_demo_registry_is_valid_plausible_and_where_the_logins_work(demo):
    residents = list(Resident.objects.all())
    assert BUDGET_SMALL <= len(residents) < BUDGET_SMALL * 1.1  # a family is not split
    today = timezone.localdate()
    for person in residents[:400]:
        number = protect.reveal(person, "id_number")
        # GB 11643 check digit; the project's rule (province, birth date) through its validator.
        assert ric.calc_check_digit(number) == number[-1]
        identity = parse_identity("resident_id", number)
        assert (identity.birth_date, identity.sex) == (person.birth_date, person.sex)
        assert person.id_masked == protect.mask_id(number)
        assert 0 <= (today - person.birth_date).days // 365 <= 100
        phone = protect.reveal(person, "phone")
        if phone:
            assert normalise_phone(phone) == phone and person.phone_masked == protect.mask_phone(
                phone
            )
    assert len({p.id_index for p in residents}) == len(residents)
    for org in Organisation.objects.all():
        assert validate_uscc(org.uscc) == org.uscc
    # Families: every household has one head, whose name it shows; children are younger.
    heads = Counter(Resident.objects.filter(relation="head").values_list("household_id", flat=True))
    assert set(heads.values()) == {1} and len(heads) == Household.objects.count()
    for household in Household.objects.all()[:100]:
        head = household.members.get(relation="head")
        assert household.head_name == head.name and household.house_id == head.house_id
        for child in household.members.filter(relation="child"):
            assert child.birth_date > head.birth_date
    # The demo grid worker's community is filled densely; every login has people to browse.
    home = demo.division
    assert Resident.objects.filter(division=home).count() >= DENSE
    for username in ("gridworker", "gridleader", "community", "township", "county", "city"):
        user = User.objects.get(username=username)
        assert selectors.visible("resident", user).exists(), username
    assert not selectors.visible("resident", User.objects.get(username="handler")).exists()
    # Hazard sources and houses in every state.
    assert Place.objects.exclude(hazard_level="none").exists()
    assert {"owner", "vacant"} <= set(House.objects.values_list("use", flat=True))
    assert Building.objects.count() > 20


def test_care_visits_fall_due_over_the_coming_weeks(demo):
    tags = list(CareTag.objects.select_related("resident"))
    today = timezone.localdate()
    assert len({t.group for t in tags}) >= 5
    overdue = [t for t in tags if t.next_visit_due < today]
    soon = [t for t in tags if today <= t.next_visit_due <= today + dt.timedelta(days=7)]
    assert 0.05 * len(tags) < len(overdue) < 0.4 * len(tags)
    assert soon
    for tag in tags:
        assert tag.next_visit_due == tag.last_visit_on + dt.timedelta(days=tag.visit_every_days)
        assert tag.division_id == tag.resident.division_id
        assert tag.since <= tag.last_visit_on <= today
    elderly = [t for t in tags if t.group == "elderly_alone"]
    assert elderly and all(t.resident.household.members.count() == 1 for t in elderly)
    home = CareTag.objects.filter(division=demo.division)
    assert home.filter(next_visit_due__lt=today).exists() or home.count() < 3


def test_demo_rows_are_what_the_actions_write(demo):
    person = Resident.objects.filter(division=demo.division, relation="head").first()
    assert person is not None and person.version == 1
    # Encrypted at rest: no clear number in the table.
    number = protect.reveal(person, "id_number")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id_enc, id_index, id_masked FROM registry_resident WHERE id = %s", [person.pk]
        )
        row = cursor.fetchone()
    assert number not in " ".join(row)
    # Found by the search terms, by name, initials and exact number.
    from pypinyin import Style, lazy_pinyin

    initials = "".join(lazy_pinyin(person.name, style=Style.FIRST_LETTER))
    visible = selectors.visible("resident", demo)
    for query in (person.name, initials, number):
        assert person in selectors.find(visible, query), query
    org = Organisation.objects.filter(division=demo.division).first()
    assert org is not None
    assert org in selectors.find(selectors.visible("organisation", demo), org.name)
    # Audited as created, and changed through the actions like any record.
    assert ObjectChange.objects.filter(
        object_id=str(person.pk), content_type__model="resident", action="create"
    ).exists()
    updated = actions.do_update_record(person, actor=demo, version=1, data={"phone": "13700001234"})
    assert updated.version == 2
    assert [c.action for c in selectors.history(person)] == ["update", "create"]
    with pytest.raises(Exception, match="already registered"):
        actions.do_create_record(
            "resident",
            actor=demo,
            data={"name": "重复", "id_number": number, "grid": demo.division.code},
        )
