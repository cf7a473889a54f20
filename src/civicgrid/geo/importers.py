"""Reading and validating division tables and boundary files. Nothing here writes: the
actions in actions.py apply what these functions accept."""

from __future__ import annotations

import csv
import io
import json
import re
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
    "code": "code",
    "代码": "code",
    "区划代码": "code",
    "统计用区划代码": "code",
    "编码": "code",
    "name": "name",
    "名称": "name",
    "parent_code": "parent_code",
    "parent": "parent_code",
    "上级代码": "parent_code",
    "上级编码": "parent_code",
    "level": "level",
    "级别": "level",
    "层级": "level",
    "previous_code": "previous_code",
    "原代码": "previous_code",
    "kind": "kind",
    "类型": "kind",
    "网格类型": "kind",
    "dedicated_type": "dedicated_type",
    "专属类型": "dedicated_type",
    "setting": "setting",
    "城乡": "setting",
    "households": "households",
    "户数": "households",
    "residents": "residents",
    "人数": "residents",
    "人口": "residents",
}
KIND_ALIASES = {
    "general": "general",
    "综合": "general",
    "综合网格": "general",
    "dedicated": "dedicated",
    "专属": "dedicated",
    "专属网格": "dedicated",
}
SETTING_ALIASES = {
    "urban": "urban",
    "城镇": "urban",
    "城市": "urban",
    "rural": "rural",
    "农村": "rural",
    "乡村": "rural",
}
DEDICATED_ALIASES = {
    "学校": "school",
    "医院": "hospital",
    "园区": "enterprise",
    "公园": "park",
    "企业": "enterprise",
    "其他": "other",
}


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
    if not text.strip():
        return [], _("The file is empty.")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        while not any(h.strip() for h in header):  # blank lines above the header
            header = next(reader)
    except StopIteration:
        return [], _("The file is empty.")
    except csv.Error as exc:
        return [], _("The file is not valid CSV: %(error)s") % {"error": exc}
    columns = [HEADER_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    # Spreadsheets pad the header with empty cells; only named columns count.
    while columns and not columns[-1]:
        columns.pop()
    missing = [c for c in ("code", "name") if c not in columns]
    if missing:
        return [], _("Missing column(s): %(columns)s. Expected: code,name,parent_code,level.") % {
            "columns": ", ".join(missing)
        }
    twice = sorted({c for c in columns if c and columns.count(c) > 1})
    if twice:
        return [], _("Column(s) %(columns)s appear more than once in the header.") % {
            "columns": ", ".join(twice)
        }
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        while True:
            # A quoted value may span lines: a row is numbered by the line it starts on.
            line = reader.line_num + 1
            values = next(reader, None)
            if values is None:
                break
            if not any(v.strip() for v in values):
                continue
            row = {col: (values[i] if i < len(values) else "") for i, col in enumerate(columns)}
            if any(v.strip() for v in values[len(columns) :]):
                row["__extra__"] = "1"
            rows.append((line, row))
    except csv.Error as exc:
        return rows, _("The file is not valid CSV near line %(line)d: %(error)s") % {
            "line": reader.line_num,
            "error": exc,
        }
    if not rows:
        return [], _("The file has a header but no rows.")
    return rows, ""


def _guess_code(raw_code: str) -> tuple[str, int] | None:
    """(canonical code, level) as the code's own shape implies, if it has a valid one."""
    try:
        level = codes.infer_level(raw_code)
        return codes.normalize(raw_code, level), level
    except ValidationError:
        return None


def validate_divisions(raw: bytes) -> tuple[list[DivisionRecord], ImportReport]:
    rows, fatal = read_division_rows(raw)
    report = ImportReport(total=len(rows), fatal=fatal)
    if fatal:
        return [], report

    def fail(line: int, field_name: str, message: str) -> None:
        report.errors.append(RowError(line=line, field=field_name, message=message))

    existing = {
        d.code: d
        for d in Division.objects.filter(is_active=True).only("id", "code", "level", "path")
    }
    # Rows that fail, by every form of their code, so that their children are told the real
    # reason ("the parent row is invalid") instead of "unknown parent" — or, worse, silently
    # attached to a grandparent found by path.
    bad_rows: dict[str, int] = {}

    def remember_bad(line: int, raw_code: str) -> None:
        raw_code = raw_code.strip()
        if raw_code:
            bad_rows.setdefault(raw_code, line)
        guess = _guess_code(raw_code)
        if guess is not None:
            bad_rows.setdefault(guess[0], line)
            bad_rows.setdefault("path:" + codes.path_of(*guess), line)

    # Pass 1: each row on its own.
    records: list[DivisionRecord] = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        raw_code = row.get("code", "")
        errors_before = len(report.errors)
        record = _read_record(line, row, existing, first_line, fail)
        if record is None:
            if len(report.errors) > errors_before:
                remember_bad(line, raw_code)
            continue
        first_line[record.code] = line
        records.append(record)

    # Pass 2: parents, against the file and the database, top level first.
    records.sort(key=lambda r: (r.level, r.line))
    in_file = {r.code: r for r in records}
    by_path: dict[str, Any] = {d.path: d for d in existing.values()}
    by_path.update({r.path: r for r in records})
    with_grid = [r.code for r in records if r.grid]
    stored_grids: dict[str, list[Any]] = {}
    for start in range(0, len(with_grid), 900):  # SQLite caps the parameters of one query
        stored_grids.update(
            (code, values)
            for code, *values in Grid.objects.filter(
                division__is_active=True, division__code__in=with_grid[start : start + 900]
            ).values_list("division__code", *GRID_FIELDS)
        )
    accepted: list[DivisionRecord] = []
    accepted_codes: set[str] = set()
    for record in records:
        problem = _check_record(record, in_file, existing, by_path, accepted_codes, bad_rows)
        if problem is None and record.level == Level.GRID:
            problem = _check_grid(record, stored_grids.get(record.code))
        if problem:
            fail(record.line, problem[0], problem[1])
            continue
        accepted.append(record)
        accepted_codes.add(record.code)
    report.errors.sort(key=lambda e: e.line)
    return accepted, report


def _read_record(
    line: int,
    row: dict[str, str],
    existing: dict[str, Division],
    first_line: dict[str, int],
    fail: Any,
) -> DivisionRecord | None:
    """One row checked on its own; None (after reporting why) when it is bad."""
    if row.get("__extra__"):
        fail(line, "", _("The row has more values than the header has columns."))
        return None
    try:
        level_text = row.get("level", "").strip()
        level = codes.parse_level(level_text) if level_text else codes.infer_level(row["code"])
    except ValidationError as exc:
        fail(line, "level", exc.messages[0])
        return None
    try:
        code = codes.normalize(row["code"], level)
    except ValidationError as exc:
        guess = _guess_code(row["code"])
        current = existing.get(guess[0]) if guess else None
        if current is not None and current.level != level:
            fail(
                line,
                "level",
                _(
                    "%(code)s already exists as a %(existing)s; a code keeps its "
                    "level (this row says %(level)s)."
                )
                % {
                    "code": current.code,
                    "existing": Level(current.level).label,
                    "level": Level(level).label,
                },
            )
        else:
            fail(line, "code", exc.messages[0])
        return None
    name = row.get("name", "").strip()
    if not name:
        fail(line, "name", _("The name is empty."))
        return None
    if len(name) > 100:
        fail(line, "name", _("The name is longer than 100 characters."))
        return None
    if code in first_line:
        fail(
            line,
            "code",
            _("Code %(code)s appears again (first on line %(line)d).")
            % {"code": code, "line": first_line[code]},
        )
        return None
    grid: dict[str, Any] = {}
    if level == Level.GRID:
        try:
            grid = _grid_attributes(row, code)
        except ValidationError as exc:
            for field_name, message in messages_of(exc):
                fail(line, field_name, message)
            return None
    else:
        given = [c for c in GRID_FIELDS if row.get(c, "").strip()]
        if given:
            fail(
                line,
                given[0],
                _("Grid attributes (%(columns)s) are only allowed on grid rows.")
                % {"columns": ", ".join(given)},
            )
            return None
    parent_raw = row.get("parent_code", "").strip()
    previous = row.get("previous_code", "").strip() or None
    if previous:
        try:
            previous = codes.normalize(previous, level)
        except ValidationError as exc:
            fail(line, "previous_code", exc.messages[0])
            return None
    return DivisionRecord(line, code, level, name, parent_raw or None, previous, grid)


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
    bad_rows: dict[str, int],
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
            return "code", _(
                "Code %(code)s is already in use; it cannot be a renumbering target."
            ) % {"code": record.code}
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
            bad_line = bad_rows.get("path:" + record.path[:length])
            if bad_line is not None:
                return "parent_code", _("The parent row (line %(line)d) is invalid.") % {
                    "line": bad_line
                }
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
            bad_line = bad_rows.get(parent_code)
            if bad_line is None and (guess := _guess_code(parent_code)) is not None:
                bad_line = bad_rows.get(guess[0])
            if bad_line is not None:
                return "parent_code", _("The parent row (line %(line)d) is invalid.") % {
                    "line": bad_line
                }
            return "parent_code", _(
                "Parent %(code)s is neither in the file nor in the database."
            ) % {"code": parent_code}
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
# The same systems as files actually spell them: "EPSG:4326", "urn:ogc:def:crs:EPSG:6.6:4326",
# "http://www.opengis.net/def/crs/EPSG/0/4490", "urn:ogc:def:crs:OGC::CRS84", "CRS84".
_WGS84_NAME = re.compile(r"(crs:?84|epsg\D.*\b(4326|4490))$")


def crs_is_lng_lat(name: str) -> bool:
    """Whether a declared CRS name means WGS-84 (or CGCS2000) longitude/latitude."""
    text = name.strip().lower()
    return text in ACCEPTED_CRS or bool(_WGS84_NAME.search(text))


def _declared_crs(data: dict[str, Any]) -> str:
    crs = data.get("crs")
    if isinstance(crs, str):
        return crs
    if not isinstance(crs, dict):
        return ""
    props = crs.get("properties")
    name = props.get("name") if isinstance(props, dict) else None
    return str(name) if name else ""


@dataclass
class BoundaryRecord:
    file: str
    number: int
    code: str
    division_id: int
    geometry: Any  # shapely geometry


def _code_property(props: Any) -> str | None:
    """The division code among a feature's properties ("code", or 区划代码 and the other
    column names the division tables use)."""
    if not isinstance(props, dict):
        return None
    for key, value in props.items():
        if value is not None and HEADER_ALIASES.get(str(key).strip().lower()) == "code":
            return str(value).strip()
    return None


def _features(data: Any, file_name: str) -> list[tuple[int, str | None, Any]]:
    """(feature number, code or None, geometry) from a parsed GeoJSON document. A file holding
    one geometry may be named by its code (371602001001001.geojson)."""
    stem = PurePath(file_name).stem
    named = stem if stem.isdigit() else None
    if not isinstance(data, dict):
        raise ValidationError(_("The file is not a GeoJSON object."))
    kind = data.get("type")
    if kind == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list):
            raise ValidationError(_("The FeatureCollection has no features list."))
        if not features:
            raise ValidationError(_("The FeatureCollection has no features."))
        out: list[tuple[int, str | None, Any]] = []
        for number, feature in enumerate(features, start=1):
            code = _code_property(feature.get("properties")) if isinstance(feature, dict) else None
            if code is None and len(features) == 1:
                code = named
            out.append((number, code, feature))
        return out
    if kind == "Feature":
        code = _code_property(data.get("properties"))
        return [(1, code if code is not None else named, data)]
    if kind in {
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
    }:
        return [(1, named, data)]
    raise ValidationError(_("Unknown GeoJSON type “%(kind)s”.") % {"kind": kind})


def _read_geojson(raw: bytes) -> Any:
    if not raw.strip():
        raise ValidationError(_("The file is empty."))
    try:
        return json.loads(decode_text(raw))
    except RecursionError as exc:
        raise ValidationError(_("The JSON is nested too deeply.")) from exc
    except ValueError as exc:
        raise ValidationError(_("The file is not JSON: %(error)s") % {"error": exc}) from exc


def validate_boundaries(
    files: list[tuple[str, bytes]], *, crs: str = "wgs84"
) -> tuple[list[BoundaryRecord], ImportReport]:
    report = ImportReport()
    if crs not in {"wgs84", "gcj02"}:
        report.fatal = _("Unknown coordinate system “%(crs)s”: use wgs84 or gcj02.") % {"crs": crs}
        return [], report
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
            data = _read_geojson(raw)
            declared = _declared_crs(data) if isinstance(data, dict) else ""
            if declared and not crs_is_lng_lat(declared):
                raise ValidationError(
                    _(
                        "Coordinate system %(crs)s is not supported: boundaries must be "
                        "WGS-84 (EPSG:4326) or CGCS2000 (EPSG:4490) longitude/latitude; "
                        "reproject the file first."
                    )
                    % {"crs": declared}
                )
            features = _features(data, file_name)
        except ValidationError as exc:
            message = _("Cannot read the file: %(error)s") % {"error": exc.messages[0]}
            report.errors.append(RowError(0, "", message, file=file_name))
            continue
        for number, code, feature in features:
            report.total += 1

            def fail(
                field_name: str, message: str, number: int = number, file_name: str = file_name
            ) -> None:
                report.errors.append(RowError(number, field_name, message, file=file_name))

            if not code:
                fail("code", _("The feature has no “code” property."))
                continue
            match = divisions.get(code)
            if match is None and (guess := _guess_code(code)) is not None:
                code = guess[0]
                match = divisions.get(code)
            if code in seen:
                fail(
                    "code",
                    _("Code %(code)s appears again (first in %(file)s, feature %(n)d).")
                    % {"code": code, "file": seen[code][0], "n": seen[code][1]},
                )
                continue
            seen[code] = (file_name, number)
            if match is None:
                fail("code", _("No division has the code %(code)s.") % {"code": code})
                continue
            try:
                is_feature = isinstance(feature, dict) and feature.get("type") == "Feature"
                raw_geometry = feature.get("geometry") if is_feature else feature
                if crs == "gcj02" and isinstance(raw_geometry, dict):
                    geometry.parse_geometry(raw_geometry)  # validate before transforming
                    raw_geometry = coords.transform_geometry(raw_geometry, coords.gcj02_to_wgs84)
                geom = geometry.parse_geometry(raw_geometry)
            except ValidationError as exc:
                fail("geometry", exc.messages[0])
                continue
            records.append(BoundaryRecord(file_name, number, code, match[0], geom))
    return records, report
