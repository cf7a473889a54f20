"""Buildings, houses and households that rows name by address ("collected once"): looked up
in batches; in the checking pass a missing one is an unsaved record checked by its cleaner,
in the writing pass it is created once however many rows name it, with history, search terms
and a feed entry like any record.

Keys: a building is (grid id, road, door number, building number), a house is (building key,
entrance, room), a household is (grid id, household number).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db.models import Field
from django.utils.translation import gettext as _

from civicgrid.core.importing import messages_of

from ..actions import KINDS, terms_of
from ..cleaning import clean_building, clean_house, clean_household
from ..models import Building, House, Household, Record
from . import bulk
from .rows import Context, Row

BuildingKey = tuple[int, str, str, str]
HouseKey = tuple[BuildingKey, str, str]
HouseholdKey = tuple[int, str]

ADDRESS_COLUMNS = ("road", "number", "building_no", "unit_no", "room")
# What a record created from an address says about itself in history and the feed.
IMPLICIT_FIELDS = {
    "building": ("division", "road", "number", "building_no"),
    "house": ("building", "division", "unit_no", "room"),
    "household": ("division", "number", "house", "head_name"),
}


def building_key(row: Row, grid_id: int) -> BuildingKey:
    raw = row.raw
    return (grid_id, raw.get("road", ""), raw.get("number", ""), raw.get("building_no", ""))


def house_key(row: Row, grid_id: int) -> HouseKey | None:
    """The row's house, or None when its address cells are all empty."""
    if not any(row.raw.get(c) for c in ADDRESS_COLUMNS):
        return None
    return (building_key(row, grid_id), row.raw.get("unit_no", ""), row.raw.get("room", ""))


class Addresses:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # lookups ------------------------------------------------------------------------------------
    def buildings(self, keys: set[BuildingKey]) -> dict[BuildingKey, Building]:
        found: dict[BuildingKey, Building] = {}
        if not keys:
            return found
        grids = sorted({k[0] for k in keys})
        divisions = self.ctx.divisions(grids)
        for part in bulk.batches(sorted({k[1] for k in keys}), 400):
            for b in Building.objects.filter(division_id__in=grids, road__in=part):
                key = (b.division_id, b.road, b.number, b.building_no)
                if key in keys:
                    b.division = divisions[b.division_id]
                    found[key] = b
        return found

    def houses(
        self, keys: set[HouseKey], buildings: dict[BuildingKey, Building]
    ) -> dict[HouseKey, House]:
        found: dict[HouseKey, House] = {}
        by_id = {b.pk: key for key, b in buildings.items()}
        for part in bulk.batches(sorted(by_id)):
            for h in House.objects.filter(building_id__in=part):
                key = (by_id[h.building_id], h.unit_no, h.room)
                if key in keys:
                    h.building = buildings[key[0]]
                    h.division = h.building.division
                    found[key] = h
        return found

    def households(self, keys: set[HouseholdKey]) -> dict[HouseholdKey, Household]:
        found: dict[HouseholdKey, Household] = {}
        if not keys:
            return found
        grids = sorted({k[0] for k in keys})
        for part in bulk.batches(sorted({k[1] for k in keys}), 400):
            query = (
                Household.objects.filter(division_id__in=grids, number__in=part, is_active=True)
                .select_related("house")
                .order_by("-id")
            )
            for h in query:
                key = (h.division_id, h.number)
                if key in keys:
                    found[key] = h  # the oldest wins (newest first)
        divisions = self.ctx.divisions(
            {h.division_id for h in found.values()}
            | {h.house.division_id for h in found.values() if h.house is not None}
        )
        # The cleaners read these relations: cached here, they cost no query (and worker
        # processes may not query at all).
        for h in found.values():
            h.division = divisions[h.division_id]
            if h.house is not None:
                h.house.division = divisions[h.house.division_id]
        return found

    # pass 1: checking ---------------------------------------------------------------------------
    def check(self, rows: list[Row]) -> None:
        """row.data["building"], ["house"], ["household"] for the rows' references: stored
        records, or unsaved ones whose problems are reported on the rows' columns."""
        wanted_h = {r.refs["house"] for r in rows if r.refs.get("house")}
        wanted_b = {k[0] for k in wanted_h} | {
            r.refs["building"] for r in rows if r.refs.get("building")
        }
        wanted_hh = {r.refs["household"] for r in rows if r.refs.get("household")}
        buildings = self.buildings(wanted_b)
        houses = self.houses(wanted_h, buildings)
        households = self.households(wanted_hh)
        problems: dict[Any, list[tuple[str, str]]] = {}
        for key in wanted_b - set(buildings):
            buildings[key] = self._new_building(key, problems)
        for key in wanted_h - set(houses):
            houses[key] = self._new_house(key, buildings[key[0]], problems)
        first_house: dict[HouseholdKey, HouseKey | None] = {}
        for row in rows:
            bkey = row.refs.get("building")
            if bkey:
                self._report(row, problems, bkey)
                if not buildings[bkey].is_active:
                    row.fail("number", _("The building at this address has ended."))
                row.data["building"] = buildings[bkey]
            hkey = row.refs.get("house")
            if hkey:
                self._report(row, problems, hkey[0], hkey)
                house = houses[hkey]
                if not house.is_active or not house.building.is_active:
                    row.fail("room", _("The house at this address has ended."))
                row.data["house"] = house
            elif "house" in row.refs:
                row.data["house"] = None
            hhkey = row.refs.get("household")
            if hhkey:
                household = households.get(hhkey)
                if household is None:
                    household = self._new_household(hhkey, row, problems)
                    households[hhkey] = household
                    first_house[hhkey] = hkey
                elif household.pk is None and hkey and first_house.get(hhkey) is None:
                    first_house[hhkey] = hkey
                    household.house = row.data.get("house")
                elif household.pk is None and hkey and first_house.get(hhkey) not in (None, hkey):
                    # A household the file creates lives in one house.
                    row.fail("household_no", _("This household lives in another house."))
                self._report(row, problems, hhkey)
                row.data["household"] = household
            elif "household" in row.refs:
                row.data["household"] = None

    @staticmethod
    def _report(row: Row, problems: dict[Any, list[tuple[str, str]]], *keys: Any) -> None:
        for key in keys:
            for column, message in problems.get(key, ()):
                row.fail(column, message)

    def _new_building(
        self, key: BuildingKey, problems: dict[Any, list[tuple[str, str]]]
    ) -> Building:
        grid = self.ctx.grid_by_id[key[0]]
        _grid, road, number, building_no = key
        try:
            clean_building(
                {"grid": grid, "road": road, "number": number, "building_no": building_no}
            )
        except ValidationError as exc:
            problems[key] = messages_of(exc)
        return Building(
            division=grid,
            division_path=grid.path,
            road=road,
            number=number,
            building_no=building_no,
        )

    def _new_house(
        self, key: HouseKey, building: Building, problems: dict[Any, list[tuple[str, str]]]
    ) -> House:
        _b, unit_no, room = key
        if not room:
            problems[key] = [("room", _("Give the room, with the road and door number."))]
        else:
            try:
                clean_house({"building": building, "unit_no": unit_no, "room": room})
            except ValidationError as exc:
                problems[key] = [(n, m) for n, m in messages_of(exc) if n != "building"]
        return House(
            building=building,
            division=building.division,
            division_path=building.division_path,
            unit_no=unit_no,
            room=room,
        )

    def _new_household(
        self, key: HouseholdKey, row: Row, problems: dict[Any, list[tuple[str, str]]]
    ) -> Household:
        grid = self.ctx.grid_by_id[key[0]]
        house = row.data.get("house")
        try:
            clean_household({"house": house, "grid": grid, "number": key[1]})
        except ValidationError as exc:
            problems[key] = [("household_no", m) for _n, m in messages_of(exc)]
        return Household(division=grid, division_path=grid.path, number=key[1], house=house)

    # pass 2: writing ----------------------------------------------------------------------------
    def create(self, rows: list[Row], *, with_households: bool = True) -> None:
        """row.values["building"], ["house"], ["household"] as stored records, creating the
        missing ones."""
        wanted_h = {r.refs["house"] for r in rows if r.refs.get("house")}
        wanted_b = {k[0] for k in wanted_h} | {
            r.refs["building"] for r in rows if r.refs.get("building")
        }
        self.ctx.divisions({k[0] for k in wanted_b})
        buildings = self.buildings(wanted_b)
        new_b = {
            key: Building(
                division=self.ctx.grid_by_id[key[0]],
                division_path=self.ctx.grid_by_id[key[0]].path,
                road=key[1],
                number=key[2],
                building_no=key[3],
            )
            for key in sorted(wanted_b - set(buildings))
        }
        self._create("building", list(new_b.values()))
        buildings.update(new_b)
        houses = self.houses(wanted_h, buildings)
        new_h = {
            key: House(
                building=buildings[key[0]],
                division=buildings[key[0]].division,
                division_path=buildings[key[0]].division_path,
                unit_no=key[1],
                room=key[2],
            )
            for key in sorted(wanted_h - set(houses))
        }
        self._create("house", list(new_h.values()))
        houses.update(new_h)
        for row in rows:
            if row.refs.get("building"):
                row.values["building"] = buildings[row.refs["building"]]
            if row.refs.get("house"):
                row.values["house"] = houses[row.refs["house"]]
            elif "house" in row.refs:
                row.values["house"] = None
        if not with_households:
            return
        wanted_hh = {r.refs["household"] for r in rows if r.refs.get("household")}
        households = self.households(wanted_hh)
        new_hh: dict[HouseholdKey, Household] = {}
        for row in rows:
            key = row.refs.get("household")
            if not key or key in households:
                continue
            head = row.values.get("name", "") if row.values.get("relation") == "head" else ""
            if key in new_hh:  # it lives in the first house its members name
                new_hh[key].house = new_hh[key].house or row.values.get("house")
                new_hh[key].head_name = new_hh[key].head_name or head
                continue
            grid = self.ctx.grid_by_id[key[0]]
            new_hh[key] = Household(
                division=grid,
                division_path=grid.path,
                number=key[1],
                house=row.values.get("house"),
                head_name=head,
            )
        self._create("household", list(new_hh.values()))
        households.update(new_hh)
        for row in rows:
            if row.refs.get("household"):
                row.values["household"] = households[row.refs["household"]]
            elif "household" in row.refs:
                row.values["household"] = None

    def _create(self, kind: str, objs: list[Any]) -> None:
        if not objs:
            return
        model = KINDS[kind]
        bulk.insert(model, objs)
        names = IMPLICIT_FIELDS[kind]
        touched = [_set_fields(model, obj, names) for obj in objs]
        terms = [terms_of(obj) for obj in objs]
        bulk.created(kind, objs, touched, terms, actor=self.ctx.actor)


def _set_fields(model: type[Record], obj: Record, names: Iterable[str]) -> set[str]:
    out = set()
    for name in names:
        attname = cast(Field, model._meta.get_field(name)).attname
        if getattr(obj, attname) not in (None, ""):
            out.add(name)
    return out
