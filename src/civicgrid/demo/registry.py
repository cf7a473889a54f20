"""Demo basic information: buildings and houses, households of plausible families, residents
with valid ID numbers (GB 11643) and phones, organisations with valid unified social credit
codes (GB 32100), places with a few hazard sources, and care-group tags whose visits fall due
over the coming weeks — some overdue.

Rows go in through bulk inserts (the demo writes thousands of them), but they are the rows the
actions would write: numbers encrypted, blind-indexed and masked by registry.protect, search
terms from actions.terms_of, one "create" audit row each (by the system), version 1. The
change feed is left out: no department subscribes in the demo.

Where: every grid of the demo logins' community densely, then a grid of each other township,
then a grid of each other community of their township, then the rest, until the preset's
budget of residents is spent — so every demo login browses a filled area, and the build stays
quick.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from stdnum.cn import ric
from stdnum.cn import uscc as gb32100

from civicgrid.core.audit import bulk_record_changes, created
from civicgrid.core.importing import ProgressFn
from civicgrid.core.models import ChangeKind
from civicgrid.geo.choices import GridKind, Level
from civicgrid.geo.models import Division
from civicgrid.registry import protect, search
from civicgrid.registry.actions import kind_of, terms_of
from civicgrid.registry.choices import (
    CareGroup,
    HazardLevel,
    PlaceKind,
    default_visit_days,
)
from civicgrid.registry.models import (
    Building,
    CareTag,
    House,
    Household,
    Organisation,
    Place,
    Record,
    Resident,
)

from .names import GOOD, SURNAMES

# Residents per demo: enough to browse, search and list at every level; few enough to build in
# seconds (about 1 ms a resident, pinyin search terms included).
BUDGET_SMALL = 2500
BUDGET_CITY = 5000
DENSE = 150  # residents per grid of the demo logins' own community
SPARSE = 40  # elsewhere

MALE = "伟刚勇毅俊峰强军平保东文辉力明永健世广志义兴良海山仁波宁贵福生龙元全国胜学祥才发武新利清飞彬富顺信子杰涛昌成康星光天达安岩中茂进林有坚和彪博诚先敬震振壮会思群豪心邦承乐绍功松善厚庆磊民友裕河哲江超浩亮政谦亨奇固之轮翰朗伯宏言若鸣朋斌梁栋维启克伦翔旭鹏泽晨辰士以建家致树炎德行时泰盛雄琛钧冠策腾楠榕风航弘"  # noqa: E501
FEMALE = "秀娟英华慧巧美娜静淑惠珠翠雅芝玉萍红娥玲芬芳燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛艳瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思丽"  # noqa: E501
ETHNIC = ["汉族"] * 97 + ["回族", "满族", "蒙古族"]
# County codes of other places, for people registered elsewhere (常住, 流动).
ELSEWHERE = [
    "370102",
    "370211",
    "370305",
    "370481",
    "370602",
    "371302",
    "371402",
    "410105",
    "130102",
    "220102",
    "340104",
    "230103",
]
MOBILE = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "158",
    "159",
    "180",
    "181",
    "186",
    "187",
    "188",
    "189",
]
ESTATES = ("小区", "花园", "家园", "苑", "新村")
ROADS = ("路", "街", "大道")
BUSINESSES = [
    # (name suffix, organisation kind, USCC registration + type digits)
    ("商贸有限公司", "company", "91"),
    ("物业服务有限公司", "company", "91"),
    ("便利店", "sole", "92"),
    ("餐馆", "sole", "92"),
    ("五金店", "sole", "92"),
    ("理发店", "sole", "92"),
    ("药店", "sole", "92"),
]
PLACES = [
    # (kind, name suffix, hazard level, inspection days)
    (PlaceKind.SHOP, "门店", HazardLevel.NONE, None),
    (PlaceKind.MARKET, "农贸市场", HazardLevel.LOW, 30),
    (PlaceKind.SCHOOL, "幼儿园", HazardLevel.NONE, 30),
    (PlaceKind.CLINIC, "卫生室", HazardLevel.NONE, 60),
    (PlaceKind.RENTAL, "出租公寓", HazardLevel.LOW, 30),
    (PlaceKind.ELDERLY, "日间照料中心", HazardLevel.LOW, 30),
]
HAZARDS = [
    (PlaceKind.GAS, "加油站", HazardLevel.MEDIUM, 14),
    (PlaceKind.GAS, "液化气供应站", HazardLevel.HIGH, 7),
    (PlaceKind.CHEMICALS, "危险化学品仓库", HazardLevel.MAJOR, 7),
    (PlaceKind.CONSTRUCTION, "建设工地", HazardLevel.LOW, 14),
]


@dataclass
class RegistryResult:
    grids: int = 0
    buildings: int = 0
    houses: int = 0
    households: int = 0
    residents: int = 0
    organisations: int = 0
    places: int = 0
    care_tags: int = 0
    overdue: int = 0


@dataclass
class _Batch:
    """Rows of one grid, created model by model (children need their parents' keys)."""

    buildings: list[Building] = field(default_factory=list)
    houses: list[House] = field(default_factory=list)
    households: list[Household] = field(default_factory=list)
    residents: list[Resident] = field(default_factory=list)
    organisations: list[Organisation] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)
    tags: list[CareTag] = field(default_factory=list)
    # (household, house index) and (resident, household index, house index) before saving.
    household_house: list[int] = field(default_factory=list)
    resident_links: list[tuple[int, int]] = field(default_factory=list)
    tag_resident: list[int] = field(default_factory=list)
    house_building: list[int] = field(default_factory=list)
    place_org: list[int | None] = field(default_factory=list)


class RegistryMaker:
    def __init__(self, seed: int, today: dt.date | None = None) -> None:
        self.rng = random.Random(seed * 7919 + 11)
        self.today = today or timezone.localdate()
        self.ids: set[str] = set()
        self.phones: set[str] = set()
        self.codes: set[str] = set()

    # --- people ---------------------------------------------------------------------------
    def given_name(self, sex: str) -> str:
        pool = MALE if sex == "M" else FEMALE
        n = 1 if self.rng.random() < 0.25 else 2
        return "".join(self.rng.choice(pool) for _ in range(n))

    def birth(self, age: int) -> dt.date:
        """A birth date of someone `age` years old today."""
        days = int(age * 365.25) + self.rng.randrange(1, 365)
        return self.today - dt.timedelta(days=days)

    def id_number(self, region: str, birth: dt.date, sex: str) -> str:
        for _ in range(1000):
            seq = self.rng.randrange(0, 1000)
            if (seq % 2 == 1) != (sex == "M"):  # odd for men, even for women (GB 11643)
                seq = (seq + 1) % 1000
            body = f"{region}{birth:%Y%m%d}{seq:03d}"
            number = body + ric.calc_check_digit(body + "0")  # reads the first 17 characters
            if number not in self.ids:
                self.ids.add(number)
                return number
        raise RuntimeError("ran out of ID numbers")

    def phone(self) -> str:
        while True:
            number = self.rng.choice(MOBILE) + f"{self.rng.randrange(10**8):08d}"
            if number not in self.phones:
                self.phones.add(number)
                return "+86" + number

    def uscc(self, kind_digits: str, region: str) -> str:
        """A unified social credit code: registration and type digits, the county, an
        organisation code (GB 11714, with its own check character) and the check character
        of GB 32100 (stdnum)."""
        letters = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        while True:
            body8 = "MA" + "".join(self.rng.choice(letters[:10] + "ABCDEFGH") for _ in range(6))
            values = [int(c) if c.isdigit() else ord(c) - 55 for c in body8]
            weighted = sum(v * w for v, w in zip(values, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
            check = 11 - weighted % 11
            org_code = body8 + {10: "X", 11: "0"}.get(check, str(check))
            body = f"{kind_digits}{region}{org_code}"
            code = body + gb32100.calc_check_digit(body)
            if code not in self.codes:
                self.codes.add(code)
                return code

    # --- one grid ---------------------------------------------------------------------------
    def grid(self, grid: Division, community: Division, residents: int) -> _Batch:
        urban = int(community.code[-3:]) < 200  # villages are numbered from 201
        batch = _Batch()
        roads = [self._road() for _ in range(2)]
        estate = community.name[:2] + self.rng.choice(ESTATES)
        county = grid.code[:6]
        people = 0
        number = self.rng.randrange(1, 60)
        building_no = 0
        free_rooms: list[int] = []  # house indexes of empty rooms in the current building
        while people < residents:
            if not free_rooms:
                building_no += 1
                number += self.rng.randrange(1, 4)
                if urban:
                    floors = self.rng.choice([6, 6, 6, 11, 18])
                    building = Building(
                        road=self.rng.choice(roads),
                        number=str(number),
                        name=estate,
                        building_no=str(building_no),
                        use="residential",
                        floors=floors,
                    )
                    rooms = [
                        (u, f"{f}0{r}")
                        for u in ("1", "2")
                        for f in range(1, min(floors, 6) + 1)
                        for r in (1, 2)
                    ]
                else:
                    building = Building(
                        road=community.name,
                        number=str(number),
                        use="residential",
                        floors=self.rng.choice([1, 1, 2]),
                    )
                    rooms = [("", "1")]
                self._place(building, grid)
                batch.buildings.append(building)
                for unit, room in rooms:
                    house = House(unit_no=unit, room=room, use="owner")
                    self._place(house, grid)
                    batch.houses.append(house)
                    batch.house_building.append(len(batch.buildings) - 1)
                    free_rooms.append(len(batch.houses) - 1)
                self.rng.shuffle(free_rooms)
            house_index = free_rooms.pop()
            if urban and self.rng.random() < 0.08:
                batch.houses[house_index].use = "vacant"
                continue
            people += self._household(batch, grid, county, house_index, urban)
        occupied = set(batch.household_house)
        for index, house in enumerate(batch.houses):
            if index not in occupied:
                house.use = "vacant"
        self._businesses(batch, grid, county, roads)
        return batch

    def _road(self) -> str:
        return self.rng.choice(GOOD) + self.rng.choice(GOOD) + self.rng.choice(ROADS)

    @staticmethod
    def _place(obj: Record, grid: Division) -> None:
        obj.division = grid
        obj.division_path = grid.path

    def _household(
        self, batch: _Batch, grid: Division, county: str, house_index: int, urban: bool
    ) -> int:
        rng = self.rng
        roll = rng.random()
        renting = urban and roll < 0.12
        elsewhere = rng.choice(ELSEWHERE)
        surname = rng.choice(SURNAMES)
        head_age = rng.randint(72, 92) if roll > 0.9 else rng.randint(24, 78)
        head_sex = "M" if rng.random() < 0.8 else "F"
        members: list[tuple[str, int, str, str]] = [(head_sex, head_age, "head", surname)]
        alone = roll > 0.9  # an elderly person living alone
        if not alone and rng.random() < 0.85:
            spouse_age = max(20, head_age + rng.randint(-5, 3))
            members.append(("F" if head_sex == "M" else "M", spouse_age, "spouse", ""))
        if not alone and head_age < 70:
            for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3])):
                child_age = head_age - rng.randint(22, 34)
                if child_age >= 0:
                    members.append((rng.choice("MF"), child_age, "child", surname))
        if not alone and head_age < 55 and rng.random() < 0.25:
            members.append(
                (rng.choice("MF"), min(95, head_age + rng.randint(24, 30)), "parent", "")
            )
        household = Household(number=f"{rng.randrange(10**7, 10**8)}" if not renting else "")
        self._place(household, grid)
        batch.households.append(household)
        batch.household_house.append(house_index)
        if renting:
            batch.houses[house_index].use = "rented"
        kind = "floating" if renting else ("resident" if rng.random() < 0.08 else "registered")
        for sex, age, relation, family in members:
            name = (family or rng.choice(SURNAMES)) + self.given_name(sex)
            birth = self.birth(age)
            region = county if kind == "registered" else elsewhere
            number = self.id_number(region, birth, sex)
            phone = self.phone() if 16 <= age <= 85 and rng.random() < 0.92 else ""
            person = Resident(
                name=name,
                document_type="resident_id",
                sex=sex,
                birth_date=birth,
                ethnicity=rng.choice(ETHNIC),
                residence_type=kind,
                relation=relation,
                **protect.id_columns(number),
                **protect.phone_columns(phone),
            )
            self._place(person, grid)
            batch.residents.append(person)
            batch.resident_links.append((len(batch.households) - 1, house_index))
            if relation == "head":
                household.head_name = name
            self._care(batch, person, age, alone, urban, relation)
        return len(members)

    def _care(
        self, batch: _Batch, person: Resident, age: int, alone: bool, urban: bool, relation: str
    ) -> None:
        rng = self.rng
        groups: list[tuple[str, str]] = []
        if alone and age >= 70:
            risk = "high" if age >= 85 else ("medium" if age >= 78 else "low")
            groups.append((CareGroup.ELDERLY_ALONE, risk))
        if rng.random() < 0.02:
            groups.append((CareGroup.DISABLED, rng.choice(["low", "low", "medium"])))
        if relation == "head" and rng.random() < 0.03:
            groups.append((CareGroup.LOW_INCOME, "low"))
        if person.sex == "M" and 40 <= age <= 85 and rng.random() < 0.02:
            groups.append((CareGroup.VETERAN, "low"))
        if not urban and age < 16 and rng.random() < 0.06:
            groups.append((CareGroup.LEFT_BEHIND_CHILD, rng.choice(["low", "medium"])))
        if 18 <= age < 70:
            roll = rng.random()
            if roll < 0.004:
                groups.append((CareGroup.SEVERE_MENTAL, rng.choice(["low", "medium", "high"])))
            elif roll < 0.006:
                groups.append((CareGroup.COMMUNITY_CORRECTION, rng.choice(["low", "medium"])))
            elif roll < 0.008:
                groups.append((CareGroup.RELEASED, "medium"))
            elif roll < 0.009:
                groups.append((CareGroup.DRUG_REHAB, rng.choice(["medium", "high"])))
        for group, risk in groups:
            every = default_visit_days(group, risk)
            since = self.today - dt.timedelta(days=rng.randint(60, 2000))
            if person.birth_date is not None:
                since = max(since, person.birth_date)
            # The last visit lies between a little over one interval ago (overdue now) and
            # yesterday, so the next ones fall due over the coming weeks.
            ago = rng.randint(1, int(every * 1.15) + 1)
            last = max(since, self.today - dt.timedelta(days=ago))
            tag = CareTag(
                group=group,
                risk_level=risk,
                visit_every_days=every,
                since=since,
                last_visit_on=last,
                next_visit_due=last + dt.timedelta(days=every),
            )
            tag.division = person.division
            tag.division_path = person.division_path
            batch.tags.append(tag)
            batch.tag_resident.append(len(batch.residents) - 1)

    def _businesses(self, batch: _Batch, grid: Division, county: str, roads: list[str]) -> None:
        rng = self.rng
        count = rng.randint(2, 5) if batch.buildings and len(batch.buildings) > 3 else 1
        for _ in range(count):
            suffix, kind, digits = rng.choice(BUSINESSES)
            road = rng.choice(roads)
            number = rng.randint(1, 300)
            owner = rng.choice(SURNAMES) + self.given_name("M")
            org = Organisation(
                name=f"滨州{rng.choice(GOOD)}{rng.choice(GOOD)}{suffix}",
                uscc=self.uscc(digits, county),
                kind=kind,
                legal_rep=owner,
                address=f"{road}{number}号",
                employees=rng.randint(2, 12) if kind == "sole" else rng.randint(8, 120),
                **protect.phone_columns(self.phone()),
            )
            self._place(org, grid)
            batch.organisations.append(org)
        spots = [rng.choice(PLACES) for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.12:
            spots.append(rng.choice(HAZARDS))
        for kind, suffix, hazard, every in spots:
            owner_index = rng.randrange(len(batch.organisations)) if batch.organisations else None
            prefix = grid.name.replace("网格", "")[:4]
            place = Place(
                name=f"{prefix}{suffix}",
                kind=kind,
                hazard_level=hazard,
                address=f"{rng.choice(roads)}{rng.randint(1, 300)}号",
                contact=rng.choice(SURNAMES) + self.given_name(rng.choice("MF")),
                inspect_every_days=every,
                **protect.phone_columns(self.phone()),
            )
            self._place(place, grid)
            batch.places.append(place)
            batch.place_org.append(owner_index)


# --- where ------------------------------------------------------------------------------------
def pick_grids(home: Division, budget: int) -> list[tuple[Division, Division, int]]:
    """(grid, community, residents) in the order they are filled: the home community's grids
    densely, then one grid of every other township (so that every county and township login
    has people to browse), then one grid of every other community of the home township, then
    the rest — until `budget` residents are placed. Dedicated grids (a school, a park) have
    hardly anyone living in them and are left out."""
    grids = list(
        Division.objects.filter(level=Level.GRID, is_active=True, grid__kind=GridKind.GENERAL)
        .select_related("parent")
        .order_by("path")
    )
    community = home.parent
    assert community is not None
    township_id = community.parent_id
    first = sorted((g for g in grids if g.parent_id == community.pk), key=lambda g: g.pk != home.pk)
    second: dict[int, Division] = {}
    third: dict[int, Division] = {}
    for g in grids:
        assert g.parent is not None
        if g.parent_id == community.pk:
            continue
        if g.parent.parent_id == township_id:
            second.setdefault(g.parent_id, g)
        elif g.parent.parent_id is not None:
            third.setdefault(g.parent.parent_id, g)
    chosen = {g.pk for g in [*first, *second.values(), *third.values()]}
    rest = [g for g in grids if g.pk not in chosen]
    plan: list[tuple[Division, Division, int]] = []
    left = budget
    for group, size in (
        (first, DENSE),
        (list(third.values()), SPARSE),
        (list(second.values()), SPARSE),
        (rest, SPARSE),
    ):
        for g in group:
            if left <= 0:
                return plan
            assert g.parent is not None
            take = min(size, left)
            plan.append((g, g.parent, take))
            left -= take
    return plan


# --- writing ----------------------------------------------------------------------------------
def _save(rows: list[Any]) -> None:
    if rows:
        type(rows[0]).objects.bulk_create(rows, batch_size=500)


def _write(batch: _Batch) -> None:
    _save(batch.buildings)
    for house, b in zip(batch.houses, batch.house_building, strict=True):
        house.building = batch.buildings[b]
    _save(batch.houses)
    for household, h in zip(batch.households, batch.household_house, strict=True):
        household.house = batch.houses[h]
    _save(batch.households)
    for person, (hh, h) in zip(batch.residents, batch.resident_links, strict=True):
        person.household = batch.households[hh]
        person.house = batch.houses[h]
    _save(batch.residents)
    for tag, r in zip(batch.tags, batch.tag_resident, strict=True):
        tag.resident = batch.residents[r]
    _save(batch.tags)
    _save(batch.organisations)
    for place, o in zip(batch.places, batch.place_org, strict=True):
        place.organisation = batch.organisations[o] if o is not None else None
    _save(batch.places)


def _index_and_audit(records: Iterable[Record]) -> None:
    """Search terms and a "create" audit row per record, as the actions write them."""
    by_kind: dict[str, list[Record]] = {}
    for obj in records:
        by_kind.setdefault(kind_of(obj), []).append(obj)
    terms = []
    for kind, objs in by_kind.items():
        if kind in {"resident", "organisation", "place", "building"}:
            for obj in objs:
                terms += search.index_rows(kind, obj.pk, obj.division_path, terms_of(obj))
        bulk_record_changes(created(objs), ChangeKind.CREATE, actor=None, action="create")
    search.SearchTerm.objects.bulk_create(terms, batch_size=2000)


def generate_registry(
    home: Division,
    *,
    seed: int,
    budget: int,
    progress: ProgressFn | None = None,
) -> RegistryResult:
    """Write the demo registry around `home` (the demo grid worker's grid)."""
    maker = RegistryMaker(seed)
    plan = pick_grids(home, budget)
    result = RegistryResult(grids=len(plan))
    today = maker.today
    for done, (grid, community, residents) in enumerate(plan, start=1):
        batch = maker.grid(grid, community, residents)
        with transaction.atomic():
            _write(batch)
            _index_and_audit(
                [
                    *batch.buildings,
                    *batch.houses,
                    *batch.households,
                    *batch.residents,
                    *batch.tags,
                    *batch.organisations,
                    *batch.places,
                ]
            )
        result.buildings += len(batch.buildings)
        result.houses += len(batch.houses)
        result.households += len(batch.households)
        result.residents += len(batch.residents)
        result.organisations += len(batch.organisations)
        result.places += len(batch.places)
        result.care_tags += len(batch.tags)
        result.overdue += sum(1 for t in batch.tags if (t.next_visit_due or today) < today)
        if progress is not None:
            progress(done, len(plan))
    return result


def budget_for(grids: int) -> int:
    return BUDGET_SMALL if grids < 500 else BUDGET_CITY
