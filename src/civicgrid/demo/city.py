"""Plan a Binzhou-like city: codes, names, boundaries and household counts. Pure computation;
`load.py` writes the plan through the import actions."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from .names import NameMaker, chinese_number
from .tessellation import nearest, union, voronoi_cells

PROVINCE = ("370000", "山东省")
CITY = ("371600", "滨州市")
BOUNDS = (117.35, 36.80, 118.45, 38.10)
# Real county codes and names of Binzhou; seats placed roughly where the towns are.
COUNTIES = [
    ("371602", "滨城区", 117.97, 37.38),
    ("371603", "沾化区", 118.13, 37.70),
    ("371621", "惠民县", 117.51, 37.49),
    ("371622", "阳信县", 117.58, 37.66),
    ("371623", "无棣县", 117.62, 37.92),
    ("371625", "博兴县", 118.13, 37.15),
    ("371681", "邹平市", 117.74, 36.90),
]


@dataclass(frozen=True)
class Preset:
    counties: int
    urban_grids: tuple[int, ...]  # per county: grids in the town around the county seat
    rural_grids: int  # spread over the whole city
    townships_per_county: int
    spread: float  # degrees: how far the urban core reaches
    bounds: tuple[float, float, float, float] = BOUNDS
    cases: int = 0  # demo cases written through the case actions


PRESETS = {
    "small": Preset(1, (48,), 16, 3, 0.014, (117.91, 37.32, 118.03, 37.44), cases=60),
    "city": Preset(7, (1500, 450, 400, 350, 350, 450, 600), 3700, 13, 0.045, cases=500),
}


@dataclass
class Node:
    code: str
    name: str
    level: int
    parent: str | None
    geometry: BaseGeometry | None = None
    grid: dict[str, Any] = field(default_factory=dict)


@dataclass
class CityPlan:
    nodes: list[Node]
    faults: list[str]
    seed: int = 1
    cases: int = 0

    def count(self, level: int) -> int:
        return sum(1 for n in self.nodes if n.level == level)

    def divisions_csv(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [
                "code",
                "name",
                "parent_code",
                "level",
                "kind",
                "dedicated_type",
                "households",
                "residents",
            ]
        )
        for n in self.nodes:
            g = n.grid
            writer.writerow(
                [
                    n.code,
                    n.name,
                    n.parent or "",
                    n.level,
                    g.get("kind", ""),
                    g.get("dedicated_type", ""),
                    g.get("households", ""),
                    g.get("residents", ""),
                ]
            )
        return out.getvalue().encode()

    def boundaries_geojson(self) -> bytes:
        features = [
            {"type": "Feature", "properties": {"code": n.code}, "geometry": mapping(n.geometry)}
            for n in self.nodes
            if n.geometry is not None
        ]
        return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _households(rng: random.Random, urban: bool, only_grid: bool) -> tuple[int, int]:
    roll = rng.random()
    if urban:
        if roll < 0.03:
            households = rng.randint(520, 720)
        elif roll < 0.05:
            households = rng.randint(170, 290)
        else:
            households = max(300, min(500, round(rng.gauss(405, 45))))
        residents = round(households * rng.uniform(2.3, 3.0))
        if rng.random() < 0.015:
            residents = rng.randint(2550, 3100)
    else:
        if only_grid:
            households = rng.randint(110, 390)
        elif roll < 0.04:
            households = rng.randint(420, 560)
        elif roll < 0.07:
            households = rng.randint(120, 190)
        else:
            households = max(200, min(400, round(rng.gauss(300, 40))))
        residents = round(households * rng.uniform(2.6, 3.4))
    return households, residents


def plan_city(preset_name: str, seed: int) -> CityPlan:
    preset = PRESETS[preset_name]
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    names = NameMaker(rng)
    counties = COUNTIES[: preset.counties]
    x0, y0, x1, y1 = preset.bounds

    # 1. Grid seeds: dense towns around county seats, sparse villages everywhere else.
    seeds, urban_seed = [], []
    for (_code, _name, lng, lat), n in zip(counties, preset.urban_grids, strict=True):
        spread = preset.spread * (1.6 if n > 1000 else 1.0)
        pts = nprng.normal((lng, lat), spread, size=(n, 2))
        seeds.append(pts)
        urban_seed += [True] * n
    seeds.append(
        np.column_stack(
            [nprng.uniform(x0, x1, preset.rural_grids), nprng.uniform(y0, y1, preset.rural_grids)]
        )
    )
    urban_seed += [False] * preset.rural_grids
    points = np.clip(np.vstack(seeds), (x0 + 1e-4, y0 + 1e-4), (x1 - 1e-4, y1 - 1e-4))
    points, unique_idx = np.unique(np.round(points, 6), axis=0, return_index=True)
    is_urban = np.asarray(urban_seed)[unique_idx]
    cells = voronoi_cells(points, preset.bounds)

    # 2. Communities: an urban community gathers about five grids, a village one or two.
    chosen = [i for i in range(len(points)) if rng.random() < (0.2 if is_urban[i] else 0.8)]
    community_of = nearest(points, points[chosen])
    # 3. Counties by nearest seat; townships by nearest township seed inside each county.
    seat_points = np.asarray([(lng, lat) for _c, _n, lng, lat in counties])
    county_of_community = nearest(points[chosen], seat_points)

    nodes: list[Node] = [
        Node(PROVINCE[0], PROVINCE[1], 1, None),
        Node(CITY[0], CITY[1], 2, PROVINCE[0]),
    ]
    grids_by_community: dict[int, list[int]] = defaultdict(list)
    for grid_index, c in enumerate(community_of):
        grids_by_community[int(c)].append(grid_index)
    community_geoms: dict[int, BaseGeometry] = {}
    county_geoms: list[BaseGeometry] = []
    for county_index, (county_code, county_name, _lng, _lat) in enumerate(counties):
        members = [c for c in range(len(chosen)) if county_of_community[c] == county_index]
        members = [c for c in members if grids_by_community.get(c)]
        if not members:
            continue
        county = Node(county_code, county_name, 3, CITY[0])
        nodes.append(county)
        member_points = points[[chosen[c] for c in members]]
        k = min(preset.townships_per_county, len(members))
        township_seeds = member_points[rng.sample(range(len(members)), k)]
        township_of = nearest(member_points, township_seeds)
        serial = {"street": 0, "town": 100, "township": 200}
        township_geoms = []
        for t in range(k):
            t_members = [members[i] for i in range(len(members)) if township_of[i] == t]
            if not t_members:
                continue
            urban_share = np.mean([is_urban[chosen[c]] for c in t_members])
            kind = (
                "street" if urban_share > 0.5 else ("township" if rng.random() < 0.12 else "town")
            )
            serial[kind] += 1
            township = Node(
                f"{county_code}{serial[kind]:03d}", names.township(kind), 4, county_code
            )
            nodes.append(township)
            community_serial = {True: 0, False: 200}
            community_nodes = []
            for c in sorted(t_members, key=lambda c: tuple(points[chosen[c]])):
                urban = bool(is_urban[chosen[c]])
                community_serial[urban] += 1
                code = f"{township.code}{community_serial[urban]:03d}"
                community = Node(
                    code,
                    names.community(township.code) if urban else names.village(township.code),
                    5,
                    township.code,
                )
                community_nodes.append(community)
                nodes.append(community)
                members_g = sorted(grids_by_community[c], key=lambda g: tuple(points[g]))
                for n, g in enumerate(members_g, start=1):
                    households, residents = _households(rng, urban, len(members_g) == 1)
                    attrs: dict[str, Any] = {"households": households, "residents": residents}
                    name = f"{community.name}第{chinese_number(n)}网格"
                    if urban and len(members_g) > 2 and rng.random() < 0.02:
                        dtype = rng.choice(["school", "hospital", "park", "enterprise"])
                        name = names.dedicated(dtype, community.name[:2])
                        h = rng.randint(0, 30)
                        attrs = {
                            "kind": "dedicated",
                            "dedicated_type": dtype,
                            "households": h,
                            "residents": h + rng.randint(0, 120),
                        }
                    nodes.append(Node(f"{code}{n:03d}", name, 6, code, cells[g], attrs))
                community.geometry = union([cells[g] for g in members_g])
                community_geoms[c] = community.geometry
            township.geometry = union([n.geometry for n in community_nodes])
            township_geoms.append(township.geometry)
        county.geometry = union(township_geoms)
        county_geoms.append(county.geometry)
    nodes[1].geometry = union(county_geoms)
    nodes[0].geometry = None  # the province reaches far beyond the demo city
    faults = _inject_faults(nodes, rng)
    return CityPlan(nodes, faults, seed=seed, cases=preset.cases)


def _inject_faults(nodes: list[Node], rng: random.Random) -> list[str]:
    """One gap and one overlap, so that the coverage report has something true to show."""
    by_parent: dict[str, list[Node]] = defaultdict(list)
    for n in nodes:
        if n.level == 6:
            by_parent[n.parent or ""].append(n)
    candidates = sorted(code for code, grids in by_parent.items() if len(grids) >= 3)
    if len(candidates) < 2:
        return []
    gap_parent, overlap_parent = rng.sample(candidates, 2)
    faults = []
    victim = by_parent[gap_parent][0]
    assert victim.geometry is not None
    shrunk = victim.geometry.buffer(-0.0004, join_style="mitre")
    if not shrunk.is_empty:
        victim.geometry = shrunk
        faults.append(f"gap: {victim.name} ({victim.code})")
    grower = by_parent[overlap_parent][0]
    community = next(n for n in nodes if n.code == overlap_parent)
    assert grower.geometry is not None
    assert community.geometry is not None
    grown = shapely.intersection(
        grower.geometry.buffer(0.0004, join_style="mitre"), community.geometry
    )
    if grown.geom_type in {"Polygon", "MultiPolygon"}:
        grower.geometry = grown
        faults.append(f"overlap: {grower.name} ({grower.code})")
    return faults
