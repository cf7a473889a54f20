"""The spreadsheet layout of each record type: its columns, the headers they are recognised by
and the values accepted in choice columns.

Headers. Templates and exports write each column as its label in the page language followed
by its code in brackets — `姓名(name)`, `*公民身份号码(id_number)` (a star marks a required
column). On import a header is recognised by the code in brackets, by the bare code
(`id_number`), by its label in English or Chinese, or by the names Chinese registers commonly
use (`身份证号`, `联系电话`, `门牌号`…). Columns may come in any order; a column the layout does
not know is refused, so that a misspelt header never silently drops a column.

Choice values. A choice cell may hold the code (`M`, `rented`), the label in English or
Chinese, or a common spreadsheet spelling (`男`, `出租`, `户主`).

References use natural keys: the grid by its 15-digit code; a building by its address in the
grid (road, door number, building number), a house by the building plus entrance and room, a
household by its number in the grid, a resident (for care tags) by the document number, an
organisation (for places) by its unified social credit code.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from django.db import models
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.core.validators import DocumentType

from ..choices import (
    BuildingUse,
    CareGroup,
    HazardLevel,
    HouseUse,
    OrganisationKind,
    PlaceKind,
    Relation,
    ResidenceType,
    RiskLevel,
    Sex,
)

TEXT, DATE, NUMBER, CODE = "text", "date", "number", "code"


@dataclass(frozen=True)
class Column:
    code: str
    label: Any  # lazy: the header is written in the page language
    aliases: tuple[str, ...] = ()
    choices: type[models.TextChoices] | None = None
    required: bool = False
    # CODE: digits that must stay text (ID and phone numbers, grid codes); Excel would turn
    # them into numbers and lose digits. DATE: written and read as YYYY-MM-DD.
    form: str = TEXT
    example: str = ""  # a code for choice columns

    def header(self) -> str:
        return f"{'*' if self.required else ''}{self.label}({self.code})"


@dataclass(frozen=True)
class Layout:
    kind: str
    columns: tuple[Column, ...]
    # Columns exports add for reading (the record's number, the grid's name, …); an import
    # accepts and ignores them, so an export can be edited and imported again.
    extra: tuple[Column, ...] = ()
    by_code: dict[str, Column] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_code.update({c.code: c for c in self.columns})


# --- columns shared by several layouts ------------------------------------------------------
GRID = Column(
    "grid",
    gettext_lazy("grid code"),
    ("网格编码", "网格代码", "所属网格编码", "所属网格", "网格", "grid_code"),
    required=True,
    form=CODE,
    example="371602001001001",
)
ROAD = Column(
    "road", gettext_lazy("road or lane"), ("路名", "街路巷", "道路", "街巷"), example="黄河五路"
)
DOOR_NUMBER = Column(
    "number", gettext_lazy("door number"), ("门牌号", "门牌号码", "门牌"), example="100"
)
BUILDING_NO = Column(
    "building_no", gettext_lazy("building"), ("楼栋号", "楼号", "幢号", "栋号", "楼栋"), example="3"
)
UNIT_NO = Column(
    "unit_no", gettext_lazy("entrance (unit)"), ("单元号", "单元"), form=CODE, example="2"
)
ROOM = Column(
    "room", gettext_lazy("room"), ("房间号", "室号", "房号", "户室号"), form=CODE, example="301"
)
ADDRESS = (ROAD, DOOR_NUMBER, BUILDING_NO, UNIT_NO, ROOM)
LAT = Column("lat", gettext_lazy("latitude"), ("纬度",), form=NUMBER)
LNG = Column("lng", gettext_lazy("longitude"), ("经度",), form=NUMBER)
PHONE = Column(
    "phone",
    gettext_lazy("phone"),
    ("联系电话", "电话", "手机号", "手机号码", "联系方式"),
    form=CODE,
    example="13812345678",
)
DOCUMENT_TYPE = Column(
    "document_type",
    gettext_lazy("document type"),
    ("证件类型", "证件种类"),
    choices=DocumentType,
    example=DocumentType.RESIDENT_ID,
)
ID_NUMBER = Column(
    "id_number",
    gettext_lazy("document number"),
    ("公民身份号码", "身份证号", "身份证号码", "证件号码", "证件号", "身份证"),
    required=True,
    form=CODE,
    # GB 11643's own example number (born 1949-12-31, a woman).
    example="11010519491231002X",
)
NOTE = Column("note", gettext_lazy("note"), ("备注",))
HOUSEHOLD_NO = Column(
    "household_no",
    gettext_lazy("household number"),
    ("户号", "户编号"),
    form=CODE,
    example="3716020001",
)
RECORD_ID = Column("id", gettext_lazy("record number"), ("记录编号",), form=CODE)
GRID_NAME = Column("grid_name", gettext_lazy("grid name"), ("网格名称",))
VERSION = Column("version", gettext_lazy("version"), ("版本",), form=NUMBER)
CURRENT = Column("is_active", gettext_lazy("current"), ("在册",))
EXTRA = (RECORD_ID, GRID_NAME, VERSION, CURRENT)

LAYOUTS: dict[str, Layout] = {
    "building": Layout(
        "building",
        (
            GRID,
            replace(ROAD, required=True),
            replace(DOOR_NUMBER, required=True),
            BUILDING_NO,
            Column(
                "name",
                gettext_lazy("estate or building name"),
                ("小区名称", "建筑名称", "楼宇名称", "小区"),
                example="黄河小区",
            ),
            Column(
                "use",
                gettext_lazy("use"),
                ("用途", "建筑用途", "房屋用途"),
                choices=BuildingUse,
                example=BuildingUse.RESIDENTIAL,
            ),
            Column("floors", gettext_lazy("floors"), ("层数", "楼层数"), form=NUMBER, example="6"),
            LAT,
            LNG,
        ),
        EXTRA,
    ),
    "house": Layout(
        "house",
        (
            GRID,
            replace(ROAD, required=True),
            replace(DOOR_NUMBER, required=True),
            BUILDING_NO,
            UNIT_NO,
            replace(ROOM, required=True),
            Column(
                "use",
                gettext_lazy("use"),
                ("用途", "房屋用途", "使用情况"),
                choices=HouseUse,
                example=HouseUse.OWNER,
            ),
            Column(
                "area_m2",
                gettext_lazy("floor area (m²)"),
                ("建筑面积", "面积", "建筑面积（平方米）", "建筑面积(平方米)"),
                form=NUMBER,
                example="89.5",
            ),
        ),
        EXTRA,
    ),
    "household": Layout(
        "household",
        (
            GRID,
            replace(HOUSEHOLD_NO, required=True),
            Column(
                "head_name", gettext_lazy("head of household"), ("户主姓名", "户主"), example="张三"
            ),
            *ADDRESS,
        ),
        EXTRA,
    ),
    "resident": Layout(
        "resident",
        (
            GRID,
            Column("name", gettext_lazy("name"), ("姓名",), required=True, example="张三"),
            DOCUMENT_TYPE,
            ID_NUMBER,
            Column("sex", gettext_lazy("sex"), ("性别",), choices=Sex, example=Sex.FEMALE),
            Column(
                "birth_date",
                gettext_lazy("date of birth"),
                ("出生日期", "出生年月日", "生日"),
                form=DATE,
                example="1949-12-31",
            ),
            Column("ethnicity", gettext_lazy("ethnic group"), ("民族",), example="汉族"),
            Column(
                "residence_type",
                gettext_lazy("residence type"),
                ("人口类型", "户籍类型", "居住类型", "人员类型"),
                choices=ResidenceType,
                example=ResidenceType.REGISTERED,
            ),
            PHONE,
            *ADDRESS,
            HOUSEHOLD_NO,
            Column(
                "relation",
                gettext_lazy("relation to the head"),
                ("与户主关系", "与户主的关系"),
                choices=Relation,
                example=Relation.HEAD,
            ),
            NOTE,
        ),
        EXTRA,
    ),
    "organisation": Layout(
        "organisation",
        (
            GRID,
            Column(
                "name",
                gettext_lazy("name"),
                ("单位名称", "名称", "企业名称"),
                required=True,
                example="滨州市黄河商贸有限公司",
            ),
            Column(
                "uscc",
                gettext_lazy("unified social credit code"),
                ("统一社会信用代码", "信用代码", "社会信用代码"),
                form=CODE,
                example="91371600MA3C0H0T0A",
            ),
            Column(
                "kind",
                gettext_lazy("kind"),
                ("单位类型", "类型", "单位性质"),
                choices=OrganisationKind,
                example=OrganisationKind.COMPANY,
            ),
            Column(
                "legal_rep",
                gettext_lazy("legal representative"),
                ("法定代表人", "法人代表", "法人", "负责人"),
                example="李四",
            ),
            PHONE,
            Column(
                "address",
                gettext_lazy("address"),
                ("地址", "单位地址", "注册地址", "经营地址"),
                example="黄河五路100号",
            ),
            Column(
                "employees",
                gettext_lazy("employees"),
                ("从业人数", "员工人数", "职工人数"),
                form=NUMBER,
                example="25",
            ),
            LAT,
            LNG,
        ),
        EXTRA,
    ),
    "place": Layout(
        "place",
        (
            GRID,
            Column(
                "name",
                gettext_lazy("name"),
                ("场所名称", "名称"),
                required=True,
                example="黄河加油站",
            ),
            Column(
                "kind",
                gettext_lazy("kind"),
                ("场所类型", "类型", "场所类别"),
                choices=PlaceKind,
                required=True,
                example=PlaceKind.GAS,
            ),
            Column(
                "hazard_level",
                gettext_lazy("hazard level"),
                ("危险等级", "危险源等级", "风险等级"),
                choices=HazardLevel,
                example=HazardLevel.MEDIUM,
            ),
            Column(
                "organisation_uscc",
                gettext_lazy("organisation's unified social credit code"),
                ("所属单位统一社会信用代码", "单位统一社会信用代码", "所属单位信用代码"),
                form=CODE,
            ),
            Column(
                "address",
                gettext_lazy("address"),
                ("地址", "场所地址"),
                example="黄河五路120号",
            ),
            Column("contact", gettext_lazy("contact person"), ("联系人", "负责人"), example="王五"),
            PHONE,
            Column(
                "inspect_every_days",
                gettext_lazy("inspect every (days)"),
                ("巡查周期（天）", "巡查周期(天)", "巡查周期"),
                form=NUMBER,
                example="30",
            ),
            LAT,
            LNG,
        ),
        EXTRA,
    ),
    "care_tag": Layout(
        "care_tag",
        (
            DOCUMENT_TYPE,
            ID_NUMBER,
            Column(
                "group",
                gettext_lazy("group"),
                ("人群类别", "关爱对象类别", "重点人群类别", "人员类别", "类别"),
                choices=CareGroup,
                required=True,
                example=CareGroup.ELDERLY_ALONE,
            ),
            Column(
                "risk_level",
                gettext_lazy("risk level"),
                ("风险等级", "风险级别"),
                choices=RiskLevel,
                example=RiskLevel.MEDIUM,
            ),
            Column(
                "visit_every_days",
                gettext_lazy("visit every (days)"),
                ("走访周期（天）", "走访周期(天)", "走访周期", "走访频次（天）"),
                form=NUMBER,
                example="14",
            ),
            Column(
                "since",
                gettext_lazy("since"),
                ("纳入日期", "起始日期", "认定日期"),
                form=DATE,
                example="2024-01-01",
            ),
            NOTE,
        ),
        (
            RECORD_ID,
            Column("name", gettext_lazy("name"), ("姓名",)),
            GRID,
            GRID_NAME,
            Column("next_visit_due", gettext_lazy("next visit due"), ("下次走访日期",), form=DATE),
            VERSION,
            CURRENT,
        ),
    ),
}
KINDS = tuple(LAYOUTS)

# Spreadsheet spellings of choice values, whatever the page language (the labels in English
# and Chinese are accepted too, see choice_map).
CHOICE_ALIASES: dict[type[models.TextChoices], dict[str, str]] = {
    Sex: {"男": "M", "女": "F", "男性": "M", "女性": "F"},
    ResidenceType: {
        "户籍": "registered",
        "户籍人口": "registered",
        "常住": "resident",
        "常住人口": "resident",
        "流动": "floating",
        "流动人口": "floating",
        "境外": "foreign",
        "境外人员": "foreign",
        "境外人口": "foreign",
    },
    Relation: {
        "户主": "head",
        "本人": "head",
        "配偶": "spouse",
        "妻": "spouse",
        "夫": "spouse",
        "子女": "child",
        "子": "child",
        "女": "child",
        "儿子": "child",
        "女儿": "child",
        "父母": "parent",
        "父亲": "parent",
        "母亲": "parent",
        "孙子女": "grandchild",
        "孙子": "grandchild",
        "孙女": "grandchild",
        "外孙子女": "grandchild",
        "祖父母": "grandparent",
        "外祖父母": "grandparent",
        "兄弟姐妹": "sibling",
        "其他亲属": "other",
        "其他": "other",
        "租户": "tenant",
        "租客": "tenant",
        "租住人员": "tenant",
    },
    DocumentType: {
        "居民身份证": "resident_id",
        "身份证": "resident_id",
        "港澳台居民居住证": "hkmt_residence",
        "外国人永久居留身份证": "foreign_pr",
        "港澳居民来往内地通行证": "hk_macao_permit",
        "台湾居民来往大陆通行证": "taiwan_permit",
        "护照": "passport",
    },
    BuildingUse: {
        "住宅": "residential",
        "商业": "commercial",
        "商住两用": "mixed",
        "混合": "mixed",
        "公共建筑": "public",
        "工业": "industrial",
        "其他": "other",
    },
    HouseUse: {"自住": "owner", "出租": "rented", "空置": "vacant", "经营": "business"},
    OrganisationKind: {
        "企业": "company",
        "个体工商户": "sole",
        "个体户": "sole",
        "事业单位": "public",
        "社会组织": "social",
        "机关": "government",
        "党政机关": "government",
        "其他": "other",
    },
    PlaceKind: {
        "商铺": "shop",
        "餐饮": "shop",
        "商铺餐饮": "shop",
        "市场": "market",
        "学校": "school",
        "幼儿园": "school",
        "诊所": "clinic",
        "医院": "clinic",
        "娱乐场所": "entertainment",
        "群租房": "rental",
        "出租屋": "rental",
        "建筑工地": "construction",
        "工地": "construction",
        "加油站": "gas",
        "燃气": "gas",
        "危化品仓库": "chemicals",
        "危险化学品": "chemicals",
        "养老机构": "elderly",
        "养老院": "elderly",
        "其他": "other",
    },
    HazardLevel: {
        "无": "none",
        "非危险源": "none",
        "低": "low",
        "一般": "low",
        "中": "medium",
        "较大": "medium",
        "高": "high",
        "重大": "major",
        "重大危险源": "major",
    },
    CareGroup: {
        "独居老人": "elderly_alone",
        "残疾人": "disabled",
        "留守儿童": "left_behind_child",
        "留守老人": "left_behind_elderly",
        "低保": "low_income",
        "低保户": "low_income",
        "低收入": "low_income",
        "退役军人": "veteran",
        "严重精神障碍患者": "severe_mental",
        "社区矫正对象": "community_correction",
        "社区矫正人员": "community_correction",
        "刑满释放人员": "released",
        "吸毒人员": "drug_rehab",
        "社区戒毒社区康复人员": "drug_rehab",
        "重点信访人员": "petitioner",
        "其他": "other",
    },
    RiskLevel: {
        "低": "low",
        "中": "medium",
        "高": "high",
        "低风险": "low",
        "中风险": "medium",
        "高风险": "high",
    },
}


def _key(text: str) -> str:
    """A header or value as compared: full-width forms folded, blanks and stars dropped."""
    text = unicodedata.normalize("NFKC", str(text or ""))
    return re.sub(r"[\s*＊]+", "", text).lower()


@cache
def _labels(choices: type[models.TextChoices], language: str) -> dict[str, str]:
    with translation.override(language):
        return {_key(str(label)): value for value, label in choices.choices}


@cache
def choice_map(choices: type[models.TextChoices]) -> dict[str, str]:
    """Every accepted spelling of a choice's values (compared by _key) → its code."""
    known: dict[str, str] = {}
    for language in ("en", "zh-hans"):
        known.update(_labels(choices, language))
    known.update({_key(k): v for k, v in CHOICE_ALIASES.get(choices, {}).items()})
    known.update({_key(v): v for v in choices.values})
    return known


def normalise_choice(column: Column, value: str) -> str:
    """The code for a choice cell; anything unknown is passed on for the cleaner to refuse."""
    assert column.choices is not None
    known = choice_map(column.choices)
    return known.get(value) or known.get(_key(value), value)


_BRACKETED = re.compile(r"^(.*?)[(（]\s*([a-z][a-z0-9_]*)\s*[)）]$")


def header_names(layout: Layout) -> dict[str, str]:
    """Every accepted header (compared by _key) → column code."""
    names: dict[str, str] = {}
    for column in (*layout.extra, *layout.columns):  # the layout's own columns win
        spellings = [column.code, *column.aliases]
        for language in ("en", "zh-hans"):
            with translation.override(language):
                spellings.append(str(column.label))
        names.update({_key(s): column.code for s in spellings})
    return names


def read_header(layout: Layout, cells: list[str]) -> tuple[list[str | None], str]:
    """The column code of each header cell (None: ignored), or a message saying why the
    header cannot be used."""
    names = header_names(layout)
    extra = {c.code for c in layout.extra} - set(layout.by_code)
    codes: list[str | None] = []
    unknown: list[str] = []
    for cell in cells:
        text = str(cell or "").strip()
        if not text:
            codes.append(None)
            continue
        match = _BRACKETED.match(unicodedata.normalize("NFKC", text).replace(" ", ""))
        code = names.get(_key(match.group(2))) if match else None
        code = code or names.get(_key(text))
        if code is None:
            unknown.append(text)
        codes.append(None if code in extra else code)
    if unknown:
        return codes, _("Unknown column(s): %(columns)s. The columns are: %(expected)s.") % {
            "columns": ", ".join(unknown[:10]),
            "expected": ", ".join(c.header() for c in layout.columns),
        }
    named = [c for c in codes if c]
    twice = sorted({c for c in named if named.count(c) > 1})
    if twice:
        return codes, _("Column(s) %(columns)s appear more than once in the header.") % {
            "columns": ", ".join(layout.by_code[c].header() for c in twice)
        }
    missing = [c.header() for c in layout.columns if c.required and c.code not in named]
    if missing:
        return codes, _("Missing column(s): %(columns)s.") % {"columns": ", ".join(missing)}
    return codes, ""


def cell_text(column: Column, value: Any) -> tuple[str, str]:
    """(text, problem) of a cell as read from a file. Excel hands over numbers and dates; a
    long digit string that Excel stored as a number has lost its last digits already."""
    if value is None:
        return "", ""
    if isinstance(value, bool):
        return ("1" if value else "0"), ""
    if isinstance(value, dt.datetime):
        value = value.date() if column.form == DATE or value.time() == dt.time() else value
        return value.isoformat(), ""
    if isinstance(value, dt.date):
        return value.isoformat(), ""
    if isinstance(value, int):
        return str(value), ""
    if isinstance(value, float):
        if value.is_integer():
            if column.form == CODE and abs(value) >= 1e15:
                return "", _(
                    "Excel stored this number as a number and dropped its last digits: format "
                    "the column as text and type the number again."
                )
            return str(int(value)), ""
        return repr(value), ""
    text = str(value).strip()
    if column.form == CODE and re.fullmatch(r"\d(\.\d+)?[eE]\+\d+", text):
        return "", _(
            "The number is in scientific notation (Excel turned it into a number): format the "
            "column as text and type the number again."
        )
    return text, ""
