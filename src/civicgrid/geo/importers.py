"""Reading and validating division tables and boundary files. Nothing here writes: the
actions in actions.py apply what these functions accept."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from civicgrid.core.importing import ImportReport, RowError, decode_text, messages_of

from . import codes, coords, geometry
from .choices import DedicatedType, GridKind, Level
from .models import Division, Grid
from .validation import MAX_COUNT, clean_grid_values

GRID_FIELDS = ("kind", "dedicated_type", "setting", "households", "residents")

HEADER_ALIASES = {
    "code": "code", "代码": "code", "区划代码": "code", "统计用区划代码": "code", "编码": "code",
    "name": "name", "名称": "name",
    "parent_code": "parent_code", "parent": "parent_code", "上级代码": "parent_code",
    "上级编码": "parent_code",
    "level": "level", "级别": "level", "层级": "level",
    "previous_code": "previous_code", "原代码": "previous_code",
    "kind": "kind", "类型": "kind", "网格类型": "kind",
    "dedicated_type": "dedicated_type", "专属类型": "dedicated_type",
    "setting": "setting", "城乡": "setting",
    "households": "households", "户数": "households",
    "residents": "residents", "人数": "residents", "人口": "residents",
}  # fmt: skip
KIND_ALIASES = {"general": "general", "综合": "general", "综合网格": "general",
                "dedicated": "dedicated", "专属": "dedicated", "专属网格": "dedicated"}  # fmt: skip
SETTING_ALIASES = {"urban": "urban", "城镇": "urban", "城市": "urban",
                   "rural": "rural", "农村": "rural", "乡村": "rural"}  # fmt: skip
DEDICATED_ALIASES = {"学校": "school", "医院": "hospital", "园区": "enterprise", "公园": "park",
                     "企业": "enterprise", "其他": "other"}  # fmt: skip



@dataclass
class DivisionRecord:
    line: int
    code: str
    level: int
    name: str
    parent_code: str | None
    previous_code: str | None = None
    grid: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return codes.path_of(self.code, self.level)


def _count(value: str, name: str) -> int | None:
    text = value.strip().replace(",", "")
    if not text:
        return None
    if not text.isdigit():
        raise ValidationError({name: _("Must be a whole number of zero or more.")})
    number = int(text)
    if number > MAX_COUNT:
        raise ValidationError({name: _("%(n)d is implausibly large.") % {"n": number}})
    return number


def _grid_attributes(row: dict[str, str], code: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    kind = row.get("kind", "").strip().lower()
    if kind:
        if kind not in KIND_ALIASES:
            errors["kind"] = [_("Use general or dedicated.")]
        else:
            attrs["kind"] = KIND_ALIASES[kind]
    dedicated = row.get("dedicated_type", "").strip().lower()
    if dedicated:
        dedicated = DEDICATED_ALIASES.get(dedicated, dedicated)
        if dedicated not in DedicatedType.values:
            errors["dedicated_type"] = [
                _("Use one of: %(values)s.") % {"values": ", ".join(DedicatedType.values)}
            ]
        else:
            attrs["dedicated_type"] = dedicated
            attrs.setdefault("kind", GridKind.DEDICATED)
    setting = row.get("setting", "").strip().lower()
    if setting:
        if setting not in SETTING_ALIASES:
            errors["setting"] = [_("Use urban or rural.")]
        else:
            attrs["setting"] = SETTING_ALIASES[setting]
    for name in ("households", "residents"):
        try:
            number = _count(row.get(name, ""), name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
            continue
        if number is not None:
            attrs[name] = number
    if errors:
        raise ValidationError(errors)
    return attrs


def read_division_rows(raw: bytes) -> tuple[list[tuple[int, dict[str, str]]], str]:
    """(line number, row) pairs with canonical column names; fatal message if unreadable."""
    try:
        text = decode_text(raw)
    except ValidationError as exc:
        return [], exc.messages[0]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return [], _("The file is empty.")
    except csv.Error as exc:
        return [], _("The file is not valid CSV: %(error)s") % {"error": exc}
    columns = [HEADER_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    missing = [c for c in ("code", "name") if c not in columns]
    if missing:
        return [], _("Missing column(s): %(columns)s. Expected: code,name,parent_code,level.") % {
            "columns": ", ".join(missing)
        }
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            row = {col: (values[i] if i < len(values) else "") for i, col in enumerate(columns)}
            if len(values) > len(columns):
                row["__extra__"] = "1"
            rows.append((line, row))
    except csv.Error as exc:
        return rows, _("The file is not valid CSV near line %(line)d: %(error)s") % {
            "line": reader.line_num,
            "error": exc,
        }
    return rows, ""


def validate_divisions(raw: bytes) -> tuple[list[DivisionRecord], ImportReport]:
    rows, fatal = read_division_rows(raw)
    report = ImportReport(total=len(rows), fatal=fatal)
    if fatal:
        return [], report

    def fail(line: int, field_name: str, message: str) -> None:
        report.errors.append(RowError(line=line, field=field_name, message=message))

    # Pass 1: each row on its own.
    records: list[DivisionRecord] = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        if row.get("__extra__"):
            fail(line, "", _("The row has more values than the header has columns."))
            continue
        try:
            level_text = row.get("level", "").strip()
            level = codes.parse_level(level_text) if level_text else codes.infer_level(row["code"])
        except ValidationError as exc:
            fail(line, "level", exc.messages[0])
            continue
        try:
            code = codes.normalize(row["code"], level)
        except ValidationError as exc:
            fail(line, "code", exc.messages[0])
            continue
        name = row.get("name", "").strip()
        if not name:
            fail(line, "name", _("The name is empty."))
            continue
        if len(name) > 100:
            fail(line, "name", _("The name is longer than 100 characters."))
            continue
        if code in first_line:
            fail(line, "code", _("Code %(code)s appears again (first on line %(line)d).")
                 % {"code": code, "line": first_line[code]})  # fmt: skip
            continue
        first_line[code] = line
        grid: dict[str, Any] = {}
        if level == Level.GRID:
            try:
                grid = _grid_attributes(row, code)
            except ValidationError as exc:
                for field_name, message in messages_of(exc):
                    fail(line, field_name, message)
                continue
        elif any(row.get(c, "").strip() for c in ("kind", "households", "residents")):
            fail(line, "kind", _("Grid attributes are only allowed on grid rows."))
            continue
        parent_raw = row.get("parent_code", "").strip()
        previous = row.get("previous_code", "").strip() or None
        if previous:
            try:
                previous = codes.normalize(previous, level)
            except ValidationError as exc:
                fail(line, "previous_code", exc.messages[0])
                continue
        records.append(DivisionRecord(line, code, level, name, parent_raw or None, previous, grid))

    # Pass 2: parents, against the file and the database, top level first.
    records.sort(key=lambda r: (r.level, r.line))
    in_file = {r.code: r for r in records}
    existing = {
        d.code: d
        for d in Division.objects.filter(is_active=True).only("id", "code", "level", "path")
    }
    by_path = {d.path: d for d in existing.values()}
    by_path.update({r.path: r for r in records})  # type: ignore[misc]
    stored_grids = {
        code: values
        for code, *values in Grid.objects.filter(
            division__is_active=True, division__code__in=[r.code for r in records if r.grid]
        ).values_list("division__code", *GRID_FIELDS)
    }
    accepted: list[DivisionRecord] = []
    accepted_codes: set[str] = set()
    for record in records:
        problem = _check_record(record, in_file, existing, by_path, accepted_codes)
        if problem is None and record.level == Level.GRID:
            problem = _check_grid(record, stored_grids.get(record.code))
        if problem:
            fail(record.line, problem[0], problem[1])
            continue
        accepted.append(record)
        accepted_codes.add(record.code)
    report.errors.sort(key=lambda e: e.line)
    return accepted, report


def _check_grid(record: DivisionRecord, stored: list[Any] | None) -> tuple[str, str] | None:
    """The grid's attributes after this row is applied must be consistent as a whole."""
    merged: dict[str, Any] = dict(zip(GRID_FIELDS, stored, strict=True)) if stored else {}
    if not stored:
        merged["setting"] = None
    merged.update(record.grid)
    if merged.get("kind") == GridKind.GENERAL and "dedicated_type" not in record.grid:
        merged["dedicated_type"] = ""
    try:
        clean_grid_values(merged)
    except ValidationError as exc:
        field_name, message = messages_of(exc)[0]
        return field_name, message
    return None


def _check_record(
    record: DivisionRecord,
    in_file: dict[str, DivisionRecord],
    existing: dict[str, Division],
    by_path: dict[str, Any],
    accepted_codes: set[str],
) -> tuple[str, str] | None:
    current = existing.get(record.code)
    if current is not None and current.level != record.level:
        return "level", _("%(code)s already exists as a %(level)s; a code keeps its level.") % {
            "code": record.code,
            "level": Level(current.level).label,
        }
    if record.previous_code:
        old = existing.get(record.previous_code)
        if old is None:
            return "previous_code", _("No division has the previous code %(code)s.") % {
                "code": record.previous_code
            }
        if old.level != record.level:
            return "previous_code", _("The previous code belongs to a different level.")
        if current is not None:
            return "code", _("Code %(code)s is already in use; it cannot be a renumbering target.") % {
                "code": record.code
            }
    # Which parent: the one named, or the nearest ancestor known by path.
    parent_code = record.parent_code
    parent_level: int | None = None
    if parent_code is None:
        if record.level == Level.PROVINCE:
            return None
        for length in (12, 9, 6, 4, 2):
            if length >= len(record.path):
                continue
            candidate = by_path.get(record.path[:length])
            if candidate is not None:
                parent_code, parent_level = candidate.code, candidate.level
                break
        if parent_code is None:
            return "parent_code", _("No parent is given and none is known for %(code)s.") % {
                "code": record.code
            }
    else:
        parent = in_file.get(parent_code) or existing.get(parent_code)
        if parent is None:
            # The table may pad the parent code to 12 digits; try each level's form.
            for level in range(record.level - 1, 0, -1):
                try:
                    candidate_code = codes.normalize(parent_code, level)
                except ValidationError:
                    continue
                parent = in_file.get(candidate_code) or existing.get(candidate_code)
                if parent is not None:
                    break
        if parent is None:
            return "parent_code", _("Parent %(code)s is neither in the file nor in the database.") % {
                "code": parent_code
            }
        parent_code, parent_level = parent.code, parent.level
    if parent_code in in_file and parent_code not in accepted_codes and parent_code not in existing:
        return "parent_code", _("The parent row (line %(line)d) is invalid.") % {
            "line": in_file[parent_code].line
        }
    try:
        codes.check_parent(record.code, record.level, parent_code, parent_level)
    except ValidationError as exc:
        return "parent_code", exc.messages[0]
    record.parent_code = parent_code
    return None


# --- boundaries ------------------------------------------------------------------------------
ACCEPTED_CRS = {
    "urn:ogc:def:crs:ogc:1.3:crs84",
    "urn:ogc:def:crs:epsg::4326",
    "epsg:4326",
    "urn:ogc:def:crs:epsg::4490",
    "epsg:4490",
}


@dataclass
class BoundaryRecord:
    file: str
    number: int
    code: str
    division_id: int
    geometry: Any  # shapely geometry


def _features(data: Any, file_name: str) -> list[tuple[int, str | None, Any]]:
    """(feature number, code or None, geometry) from a parsed GeoJSON document."""
    stem = PurePath(file_name).stem
    if not isinstance(data, dict):
        raise ValidationError(_("The file is not a GeoJSON object."))
    kind = data.get("type")
    if kind == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list):
            raise ValidationError(_("The FeatureCollection has no features list."))
        out = []
        for number, feature in enumerate(features, start=1):
            props = feature.get("properties") if isinstance(feature, dict) else None
            code = props.get("code") if isinstance(props, dict) else None
            out.append((number, None if code is None else str(code).strip(), feature))
        return out
    if kind == "Feature":
        props = data.get("properties") or {}
        code = props.get("code") if isinstance(props, dict) else None
        return [(1, str(code).strip() if code is not None else stem, data)]
    if kind in {"Polygon", "MultiPolygon", "GeometryCollection", "Point", "LineString"}:
        return [(1, stem, data)]
    raise ValidationError(_("Unknown GeoJSON type “%(kind)s”.") % {"kind": kind})


def validate_boundaries(
    files: list[tuple[str, bytes]], *, crs: str = "wgs84"
) -> tuple[list[BoundaryRecord], ImportReport]:
    report = ImportReport()
    divisions = {
        code: (pk, level)
        for pk, code, level in Division.objects.filter(is_active=True).values_list(
            "id", "code", "level"
        )
    }
    records: list[BoundaryRecord] = []
    seen: dict[str, tuple[str, int]] = {}
    for file_name, raw in files:
        try:
            data = json.loads(decode_text(raw))
            declared = (((data.get("crs") or {}).get("properties") or {}).get("name") or "")
            if declared and str(declared).lower() not in ACCEPTED_CRS:
                raise ValidationError(
                    _("Coordinate system %(crs)s is not supported: boundaries must be WGS-84 "
                      "longitude/latitude.") % {"crs": declared}
                )
            features = _features(data, file_name)
        except (ValueError, ValidationError) as exc:
            message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
            report.errors.append(RowError(0, "", _("Cannot read the file: %(error)s")
                                          % {"error": message}, file=file_name))  # fmt: skip
            continue
        for number, code, feature in features:
            report.total += 1

            def fail(field_name: str, message: str, number: int = number) -> None:
                report.errors.append(RowError(number, field_name, message, file=file_name))

            if not code:
                fail("code", _("The feature has no “code” property."))
                continue
            code = code.strip()
            if code in seen:
                fail("code", _("Code %(code)s appears again (first in %(file)s, feature %(n)d).")
                     % {"code": code, "file": seen[code][0], "n": seen[code][1]})  # fmt: skip
                continue
            match = divisions.get(code)
            if match is None:
                fail("code", _("No division has the code %(code)s.") % {"code": code})
                continue
            try:
                raw_geometry = feature.get("geometry") if feature.get("type") == "Feature" else feature
                if crs == "gcj02" and isinstance(raw_geometry, dict):
                    geometry.parse_geometry(raw_geometry)  # validate before transforming
                    raw_geometry = coords.transform_geometry(raw_geometry, coords.gcj02_to_wgs84)
                geom = geometry.parse_geometry(raw_geometry)
            except ValidationError as exc:
                fail("geometry", exc.messages[0])
                continue
            seen[code] = (file_name, number)
            records.append(BoundaryRecord(file_name, number, code, match[0], geom))
    return records, report
