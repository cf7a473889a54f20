"""The catalog a fresh installation starts with: SLA policies from the examples of DOMAIN.md §5,
case categories (the seven grid task classes and common urban-management classes) and the
working calendar. All of it is configurable afterwards; `ensure_default_catalog` only adds what
is missing, so it may run on every migrate or demo set-up."""

from __future__ import annotations

import datetime as dt
from typing import Any

# code: (name, name_en, warn_ratio, [(stage, step, amount, unit), …])
WH, WD, UH = "working_hours", "working_days", "urgent_hours"
POLICIES: dict[str, tuple[str, str, str, list[tuple[str, str, float, str]]]] = {
    "rubbish-1wd": (
        "暴露垃圾：1个工作日",
        "Exposed rubbish: 1 working day",
        "0.75",
        [("accept", "", 1, WH), ("handle", "", 1, WD), ("check", "", 4, WH)],
    ),
    "road-5wh": (
        "道路不洁：5个工作时",
        "Dirty road: 5 working hours",
        "0.80",
        [("accept", "", 1, WH), ("handle", "", 5, WH), ("check", "", 4, WH)],
    ),
    "structure-15wd": (
        "违法建设：15个工作日",
        "Illegal structure: 15 working days",
        "0.80",
        [("accept", "", 2, WH), ("handle", "", 15, WD), ("check", "", 1, WD)],
    ),
    "burst-main": (
        "供水管道破裂：分段时限",
        "Burst main: staged limits",
        "0.70",
        [
            ("accept", "", 0.5, UH),
            ("handle", "警戒围挡", 3, UH),
            ("handle", "抢修", 8, UH),
            ("handle", "恢复路面", 5, WD),
            ("check", "", 1, WD),
        ],
    ),
    "facility-2wd": (
        "市政设施：2个工作日",
        "Public facility: 2 working days",
        "0.80",
        [("accept", "", 2, WH), ("handle", "", 2, WD), ("check", "", 1, WD)],
    ),
    "emergency-2h": (
        "紧急诉求：2小时",
        "Emergency: 2 hours",
        "0.70",
        [("accept", "", 0.5, UH), ("handle", "", 2, UH), ("check", "", 4, WH)],
    ),
    "utility-24h": (
        "水电气暖：24小时",
        "Utilities: 24 hours",
        "0.75",
        [("accept", "", 1, UH), ("handle", "", 24, UH), ("check", "", 1, WD)],
    ),
    "general-7wd": (
        "一般诉求：7个工作日",
        "General: 7 working days",
        "0.80",
        [("accept", "", 4, WH), ("handle", "", 7, WD), ("check", "", 2, WD)],
    ),
    "complex-15wd": (
        "复杂诉求：15个工作日",
        "Complex: 15 working days",
        "0.80",
        [("accept", "", 4, WH), ("handle", "", 15, WD), ("check", "", 2, WD)],
    ),
    "dispute-10wd": (
        "矛盾纠纷：10个工作日",
        "Dispute: 10 working days",
        "0.80",
        [("accept", "", 4, WH), ("handle", "", 10, WD), ("check", "", 2, WD)],
    ),
    "service-3wd": (
        "代办服务：3个工作日",
        "Agency service: 3 working days",
        "0.80",
        [("accept", "", 4, WH), ("handle", "", 3, WD), ("check", "", 1, WD)],
    ),
}

# (code, name, name_en, task_class, policy, priority, filing, closing, extra fields, minors)
MINOR = tuple[str, str, str, str | None, int | None, list[dict[str, Any]]]
CATEGORIES: list[tuple[str, str, str, str, str, list[MINOR]]] = [
    (
        "basic",
        "基础信息采集",
        "Basic information",
        "basic_information",
        "general-7wd",
        [
            ("basic.resident", "人口信息变动", "Resident information change", None, None, []),
            ("basic.house", "房屋信息变动", "House information change", None, None, []),
            (
                "basic.organisation",
                "单位信息变动",
                "Organisation information change",
                None,
                None,
                [],
            ),
        ],
    ),
    (
        "opinion",
        "社情民意收集",
        "Public opinion",
        "public_opinion",
        "general-7wd",
        [
            ("opinion.suggestion", "群众意见建议", "Suggestion", None, None, []),
            ("opinion.appeal", "群众诉求反映", "Appeal", "complex-15wd", None, []),
        ],
    ),
    (
        "hazard",
        "安全隐患排查",
        "Safety hazard",
        "safety_hazard",
        "general-7wd",
        [
            ("hazard.fire", "消防安全隐患", "Fire hazard", "facility-2wd", 3, []),
            ("hazard.gas", "燃气安全隐患", "Gas hazard", "emergency-2h", 4, []),
            ("hazard.building", "房屋安全隐患", "Unsafe building", "facility-2wd", 3, []),
            ("hazard.traffic", "道路交通隐患", "Road traffic hazard", "facility-2wd", None, []),
            ("hazard.food", "食品安全隐患", "Food safety hazard", None, None, []),
        ],
    ),
    (
        "dispute",
        "矛盾纠纷化解",
        "Conflict and dispute",
        "dispute",
        "dispute-10wd",
        [
            ("dispute.neighbour", "邻里纠纷", "Neighbour dispute", None, None, []),
            ("dispute.family", "婚姻家庭纠纷", "Family dispute", None, None, []),
            ("dispute.property", "物业纠纷", "Property-management dispute", None, None, []),
            (
                "dispute.labour",
                "劳资纠纷",
                "Wage dispute",
                None,
                3,
                [
                    {
                        "name": "workers",
                        "label": "涉及人数",
                        "label_en": "workers involved",
                        "type": "integer",
                        "required": True,
                    },
                    {
                        "name": "amount",
                        "label": "涉及金额（元）",
                        "label_en": "amount (yuan)",
                        "type": "number",
                        "required": False,
                    },
                ],
            ),
            ("dispute.land", "土地山林纠纷", "Land dispute", "complex-15wd", None, []),
        ],
    ),
    (
        "psychology",
        "社会心理服务",
        "Social-psychological service",
        "psychological",
        "general-7wd",
        [
            ("psychology.counselling", "心理疏导需求", "Counselling need", None, None, []),
            ("psychology.care", "特殊人群关爱", "Care for a special group", None, None, []),
        ],
    ),
    (
        "law",
        "法律法规宣传",
        "Legal publicity",
        "legal_publicity",
        "general-7wd",
        [
            ("law.publicity", "普法宣传", "Legal publicity", None, 1, []),
        ],
    ),
    (
        "service",
        "公共服务代办",
        "Public-service agency",
        "public_service",
        "service-3wd",
        [
            ("service.social_insurance", "社保代办", "Social insurance errand", None, None, []),
            ("service.certificate", "证照代办", "Certificate errand", None, None, []),
            ("service.assistance", "救助申请", "Assistance application", None, None, []),
        ],
    ),
    (
        "environment",
        "市容环境",
        "City appearance",
        "",
        "general-7wd",
        [
            ("environment.rubbish", "暴露垃圾", "Exposed rubbish", "rubbish-1wd", None, []),
            ("environment.dirty_road", "道路不洁", "Dirty road", "road-5wh", None, []),
            ("environment.street_vending", "占道经营", "Street vending", "rubbish-1wd", None, []),
            ("environment.posters", "乱张贴", "Illegal posters", "rubbish-1wd", 1, []),
            (
                "environment.illegal_structure",
                "违法建设",
                "Illegal structure",
                "structure-15wd",
                None,
                [
                    {
                        "name": "area_m2",
                        "label": "面积（平方米）",
                        "label_en": "area (m²)",
                        "type": "number",
                        "required": False,
                    }
                ],
            ),
        ],
    ),
    (
        "facility",
        "市政设施",
        "Public facilities",
        "",
        "facility-2wd",
        [
            ("facility.manhole", "井盖缺失破损", "Missing manhole cover", "emergency-2h", 4, []),
            ("facility.street_light", "路灯不亮", "Street light out", None, None, []),
            ("facility.burst_main", "供水管道破裂", "Burst water main", "burst-main", 4, []),
            ("facility.road_damage", "道路破损", "Damaged road", None, None, []),
            ("facility.utility", "水电气暖故障", "Utility outage", "utility-24h", 3, []),
        ],
    ),
]

FILING = {
    "basic": "网格内人、房、单位信息发生变化，需核实更新的。",
    "opinion": "群众提出的意见建议或诉求，内容具体、可办理的。",
    "hazard": "现场可见、可能危及人身财产安全的隐患。",
    "dispute": "当事人明确、已影响或可能影响稳定的矛盾纠纷。",
    "psychology": "本人或家属提出、或网格员发现需要心理服务的。",
    "law": "需要开展的普法宣传活动。",
    "service": "群众委托代办、材料齐全的公共服务事项。",
    "environment": "公共区域可见、影响市容环境的问题。",
    "facility": "公共区域市政设施缺失、损坏或故障的。",
}
CLOSING = {
    "basic": "信息已核实并在基础信息库更新。",
    "opinion": "已答复群众并记录办理结果。",
    "hazard": "隐患已消除，有整改前后照片。",
    "dispute": "达成调解协议或依法引导至相应程序，当事人签字确认。",
    "psychology": "已提供服务并建立跟踪记录。",
    "law": "活动已开展，有现场照片和签到记录。",
    "service": "事项已办结，结果已告知群众。",
    "environment": "现场恢复整洁，有处置后照片。",
    "facility": "设施已修复或更换，恢复正常使用，有处置后照片。",
}

WEEKLY = {str(d): (["08:30-12:00", "13:30-17:30"] if d < 5 else []) for d in range(7)}
# The 2026 public holidays and swapped working days as announced by the State Council General
# Office (国务院办公厅关于2026年部分节假日安排的通知, 4 November 2025; checked against it in
# tests/core/test_calendar.py). Each year's notice is imported by the administrators
# (Catalog → Calendar → import, or `civicgrid import-calendar`).
HOLIDAYS_2026: list[tuple[str, str, str]] = [
    *[(f"2026-01-0{d}", "holiday", "元旦") for d in (1, 2, 3)],
    ("2026-01-04", "workday", "元旦调休"),
    ("2026-02-14", "workday", "春节调休"),
    *[(f"2026-02-{d}", "holiday", "春节") for d in range(15, 24)],
    ("2026-02-28", "workday", "春节调休"),
    *[(f"2026-04-0{d}", "holiday", "清明节") for d in (4, 5, 6)],
    *[(f"2026-05-0{d}", "holiday", "劳动节") for d in (1, 2, 3, 4, 5)],
    ("2026-05-09", "workday", "劳动节调休"),
    *[(f"2026-06-{d}", "holiday", "端午节") for d in (19, 20, 21)],
    ("2026-09-20", "workday", "国庆节调休"),
    *[(f"2026-09-{d}", "holiday", "中秋节") for d in (25, 26, 27)],
    *[(f"2026-10-0{d}", "holiday", "国庆节") for d in range(1, 8)],
    ("2026-10-10", "workday", "国庆节调休"),
]


def ensure_default_catalog(apps: Any = None) -> None:
    """Create the missing parts of the default catalog (`apps`: a migration's app registry)."""
    if apps is None:
        from django.apps import apps as registry

        apps = registry
    policy_model = apps.get_model("catalog", "SlaPolicy")
    limit_model = apps.get_model("catalog", "SlaLimit")
    category_model = apps.get_model("catalog", "CaseCategory")
    calendar_model = apps.get_model("catalog", "WorkingCalendar")
    day_model = apps.get_model("catalog", "CalendarDay")

    policies = {}
    for code, (name, name_en, ratio, limits) in POLICIES.items():
        policy, created = policy_model.objects.get_or_create(
            code=code, defaults={"name": name, "name_en": name_en, "warn_ratio": ratio}
        )
        policies[code] = policy
        if created:
            orders: dict[str, int] = {}
            for stage, step, amount, unit in limits:
                orders[stage] = orders.get(stage, 0) + 1
                limit_model.objects.create(
                    policy=policy,
                    stage=stage,
                    order=orders[stage],
                    step=step,
                    amount=amount,
                    unit=unit,
                )
    for order, (code, name, name_en, task_class, policy, minors) in enumerate(CATEGORIES):
        major, _ = category_model.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "name_en": name_en,
                "task_class": task_class,
                "sla_policy": policies[policy],
                "sort_order": (order + 1) * 10,
                "filing_criterion": FILING[code],
                "closing_criterion": CLOSING[code],
            },
        )
        for sub, (mcode, mname, mname_en, mpolicy, priority, fields) in enumerate(minors):
            category_model.objects.get_or_create(
                code=mcode,
                defaults={
                    "name": mname,
                    "name_en": mname_en,
                    "parent": major,
                    "task_class": task_class,
                    "sla_policy": policies[mpolicy] if mpolicy else None,
                    "default_priority": priority or 2,
                    "extra_fields": fields,
                    "sort_order": (order + 1) * 10 + sub + 1,
                    "filing_criterion": FILING[code],
                    "closing_criterion": CLOSING[code],
                },
            )
    calendar, _ = calendar_model.objects.get_or_create(name="default", defaults={"weekly": WEEKLY})
    for date, kind, name in HOLIDAYS_2026:
        day_model.objects.get_or_create(
            calendar=calendar,
            date=dt.date.fromisoformat(date),
            defaults={"kind": kind, "name": name},
        )
