"""Assessment: the scoring formula worked out by hand, ranks with ties, red and black lists,
monthly runs over cases moved through the real actions, publishing that freezes, the monthly
job and the `score` command."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from civicgrid.accounts.models import User
from civicgrid.cases.models import Case
from civicgrid.core.exceptions import Conflict
from civicgrid.core.models import ObjectChange
from civicgrid.core.schedule import JOBS
from civicgrid.geo.choices import Level
from civicgrid.insights import actions, scoring
from civicgrid.insights.models import Score, ScorecardRun, ScorecardTemplate, ScoreCase
from civicgrid.insights.scoring import Rule

from ..cases.conftest import act, report, to_state
from ..world import World

D = Decimal
ON_TIME = Rule(kind="target", kpi="on_time_rate", weight=D(50), target=D("0.70"), penalty=D(1))
REWORK = Rule(kind="deduction", kpi="reworked", per_event=D("0.2"))


# --- the formula, by hand ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "points"),
    [
        (0.70, "50.00"),  # at the target: full points
        (0.95, "50.00"),  # above it: no bonus
        (0.65, "45.00"),  # 5 points below: −5
        (0.6666666666666666, "46.67"),  # 2 of 3: 3.33 points below
        (0.10, "0.00"),  # 60 points below: floored at zero
        (None, "50.00"),  # no case to judge: full points by default
    ],
)
def test_on_time_closure_earns_50_at_70_percent(value: float | None, points: str) -> None:
    assert scoring.target_points(ON_TIME, value, is_rate=True) == D(points)


def test_no_cases_can_mean_no_points() -> None:
    rule = Rule(kind="target", kpi="on_time_rate", weight=D(50), target=D("0.7"), when_empty="zero")
    assert scoring.target_points(rule, None, is_rate=True) == D("0.00")


def test_lower_is_better_and_share_without_target() -> None:
    ret = Rule(kind="target", kpi="return_rate", weight=D(10), target=D("0.05"), penalty=D(2))
    # 8 % returned against at most 5 %: 3 points above × 2 = −6
    assert scoring.target_points(ret, 0.08, is_rate=True, better="lower") == D("4.00")
    assert scoring.target_points(ret, 0.02, is_rate=True, better="lower") == D("10.00")
    share = Rule(kind="target", kpi="satisfaction_rate", weight=D(20))
    assert scoring.target_points(share, 0.9, is_rate=True) == D("18.00")
    lower = Rule(kind="target", kpi="return_rate", weight=D(10))
    assert scoring.target_points(lower, 0.1, is_rate=True, better="lower") == D("9.00")
    # A time against a target: per unit (hour), not per percentage point.
    hours = Rule(kind="target", kpi="avg_handling_hours", weight=D(10), target=D(8), penalty=D(1))
    assert scoring.target_points(hours, 10.5, is_rate=False, better="lower") == D("7.50")


def test_deduction_per_failed_check_with_cap() -> None:
    assert scoring.deduction(REWORK, 3) == D("0.60")
    capped = Rule(kind="deduction", kpi="reworked", per_event=D("0.2"), cap=D("0.5"))
    assert scoring.deduction(capped, 3) == D("0.50")


def test_total_of_the_issue_example() -> None:
    # On-time closure 65 % (−5 of 50) and 3 failed checks (−0.6): 44.4 points.
    counters = {"reworked": 3}
    total, lines = scoring.score([ON_TIME, REWORK], counters, {"on_time_rate": 0.65})
    assert total == D("44.40")
    assert [(x.kpi, x.points, x.deduction) for x in lines] == [
        ("on_time_rate", 45.0, 0.0),
        ("reworked", 0.0, 0.6),
    ]
    # Deductions never push a total below zero.
    total, _lines = scoring.score([REWORK], {"reworked": 10}, {})
    assert total == D("0.00")


def test_rules_round_trip_through_json() -> None:
    rule = Rule(kind="deduction", kpi="reworked", per_event=D("0.2"), cap=D(10))
    assert Rule.from_json(rule.as_json()) == rule


class S:
    def __init__(self, name: str, rank: int, from_bottom: int) -> None:
        self.name, self.rank, self.rank_from_bottom = name, rank, from_bottom


def test_ties_share_ranks_from_both_ends() -> None:
    totals = [D(90), D(80), D(90), D(70), D(70)]
    assert scoring.ranks(totals) == [(1, 4), (3, 3), (1, 4), (4, 1), (4, 1)]


def test_red_and_black_lists() -> None:
    totals = [D(90), D(80), D(90), D(70), D(60)]
    subjects = [S(str(t), *r) for t, r in zip(totals, scoring.ranks(totals), strict=True)]
    red, black = scoring.red_and_black(subjects, 2)
    assert sorted(s.name for s in red) == ["90", "90"]  # a tie at the top: both named
    assert [s.name for s in black] == ["60", "70"]  # worst first
    # Fewer subjects than two lists: each list takes at most half of them.
    three = [
        S(str(t), *r)
        for t, r in zip([D(9), D(9), D(5)], scoring.ranks([D(9), D(9), D(5)]), strict=True)
    ]
    red, black = scoring.red_and_black(three, 3)
    assert [s.name for s in red] == ["9", "9"] and [s.name for s in black] == ["5"]
    assert scoring.red_and_black(three[:1], 3) == ([], [])
    # Everyone tied: all praised, nobody blamed.
    same = [S("a", 1, 1), S("b", 1, 1)]
    assert scoring.red_and_black(same, 1) == (same, [])
    assert scoring.red_and_black(subjects, 0) == ([], [])


# --- runs over real cases ---------------------------------------------------------------------


def _indicators() -> list[dict[str, Any]]:
    return [
        {"kpi": "on_time_rate", "weight": 50, "target": "0.70", "penalty": 1},
        {"kpi": "satisfaction_rate", "weight": 20, "target": "0.90", "penalty": 1},
        {"kind": "deduction", "kpi": "reworked", "per_event": "0.2"},
    ]


def make_template(
    world: World, at: str = "A", level: int = Level.TOWNSHIP, size: int = 1, **more: Any
) -> ScorecardTemplate:
    data = {
        "name": f"towns of {at} {level}",
        "subject": "region",
        "area": world.div[at],
        "level": level,
        "list_size": size,
        **more,
    }
    return actions.do_create_template(actor=None, data=data, indicators=_indicators())


@pytest.fixture
def month_cases(world: World, people: dict[str, User]) -> dict[str, Case]:
    """A1 (township): one case closed and rated 5, one closed, one that failed its check and is
    being handled again. A2: one case registered and waiting."""
    p = people
    cases = {
        "evaluated": to_state(report(p["worker"]), "evaluated", p, world),
        "closed": to_state(report(p["worker"]), "closed", p, world),
    }
    c = to_state(report(p["worker"]), "checking", p, world)
    cases["reworked"] = act("fail_check", c, p["worker"])
    c = report(p["worker"], at="A2a1")
    cases["a2"] = act("register", c, p["township_a2"])
    return cases


def this_month() -> dt.date:
    return timezone.localdate().replace(day=1)


@pytest.mark.django_db
def test_run_scores_and_ranks_regions(world: World, month_cases: dict[str, Case]) -> None:
    template = make_template(world)
    run = actions.do_run_scorecard(template, f"{this_month():%Y-%m}", actor=None)
    scores = {s.subject_key: s for s in run.scores.all()}
    a1, a2 = scores[world.div["A1"].path], scores[world.div["A2"].path]
    # A1: on time 2 of 3 filed → 3.33 points short → 46.67; satisfaction 1 of 1 → 20;
    # one failed check → −0.2.  46.67 + 20 − 0.2 = 66.47
    assert a1.total == D("66.47")
    lines = {x["kpi"]: x for x in a1.details}
    assert lines["on_time_rate"]["points"] == 46.67
    assert lines["reworked"]["events"] == 1 and lines["reworked"]["deduction"] == 0.2
    # A2: on time 0 of 1 → 70 points short → 0; nobody rated → full 20.
    assert a2.total == D("20.00")
    assert (a1.rank, a2.rank) == (1, 2)
    assert (a1.rank_from_bottom, a2.rank_from_bottom) == (2, 1)
    red, black = scoring.red_and_black(list(run.scores.all()), 1)
    assert [s.pk for s in red] == [a1.pk] and [s.pk for s in black] == [a2.pk]
    assert run.status == "draft" and run.rules["list_size"] == 1
    audit = ObjectChange.objects.filter(action="run", object_id=str(run.pk))
    assert audit.count() == 1


@pytest.mark.django_db
def test_regions_without_cases_tie(world: World) -> None:
    template = make_template(world, level=Level.COMMUNITY, size=1)
    run = actions.do_run_scorecard(template, this_month(), actor=None)
    scores = list(run.scores.all())
    assert len(scores) == 3  # A1a, A1b, A2a
    assert {s.total for s in scores} == {D("70.00")}  # no case: full points, no deduction
    assert {s.rank for s in scores} == {1}
    red, black = scoring.red_and_black(scores, 1)
    assert len(red) == 3 and black == []


@pytest.mark.django_db
def test_rerun_replaces_the_draft(
    world: World, people: dict[str, User], month_cases: dict[str, Case]
) -> None:
    template = make_template(world)
    first = actions.do_run_scorecard(template, this_month(), actor=people["county"])
    to_state(report(people["worker"]), "closed", people, world)  # A1: 3 of 4 on time now
    again = actions.do_run_scorecard(template, this_month(), actor=people["county"])
    assert again.pk == first.pk and again.version == first.version + 1
    a1 = again.scores.get(subject_key=world.div["A1"].path)
    # 3 of 4 = 75 % ≥ 70 %: 50 + 20 − 0.2
    assert a1.total == D("69.80")
    assert Score.objects.filter(run=again).count() == 2


@pytest.mark.django_db
def test_publish_freezes_scores_and_cases(
    world: World, people: dict[str, User], month_cases: dict[str, Case]
) -> None:
    template = make_template(world)
    run = actions.do_run_scorecard(template, this_month(), actor=people["county"])
    run = actions.do_publish_run(run, actor=people["county"], version=run.version)
    assert run.status == "published" and run.published_by == people["county"]
    a1 = run.scores.get(subject_key=world.div["A1"].path)
    behind = ScoreCase.objects.filter(score=a1, kpi="on_time_rate")
    c = month_cases
    # The denominator (filed, not deferred) and which of them closed on time.
    assert dict(behind.values_list("case_id", "counted")) == {
        c["evaluated"].pk: True,
        c["closed"].pk: True,
        c["reworked"].pk: False,
    }
    rework = ScoreCase.objects.filter(score=a1, kpi="rework_rate", counted=True)
    assert list(rework.values_list("case_id", flat=True)) == [c["reworked"].pk]
    frozen = (a1.total, a1.details, sorted(behind.values_list("case_id", flat=True)))

    # Later case actions in the same month change the figures, not the published score.
    late = to_state(report(people["worker"]), "registered", people, world)
    act("void", report(people["worker"]), people["community"])
    a1 = Score.objects.get(pk=a1.pk)
    now = sorted(
        ScoreCase.objects.filter(score=a1, kpi="on_time_rate").values_list("case_id", flat=True)
    )
    assert (a1.total, a1.details, now) == frozen
    assert late.pk not in now
    with pytest.raises(Conflict) as refused:
        actions.do_run_scorecard(template, this_month(), actor=people["county"])
    assert refused.value.code == "published"
    with pytest.raises(Conflict):
        actions.do_publish_run(run, actor=people["county"])
    assert ObjectChange.objects.filter(action="publish", object_id=str(run.pk)).count() == 1


@pytest.mark.django_db
def test_publish_with_a_stale_version_is_refused(world: World, people: dict[str, User]) -> None:
    template = make_template(world)
    run = actions.do_run_scorecard(template, this_month(), actor=None)
    actions.do_run_scorecard(template, this_month(), actor=None)
    with pytest.raises(Conflict) as refused:
        actions.do_publish_run(ScorecardRun.objects.get(pk=run.pk), actor=None, version=run.version)
    assert refused.value.code == "version"


@pytest.mark.django_db
def test_units_and_workers_are_ranked(
    world: World, people: dict[str, User], month_cases: dict[str, Case]
) -> None:
    units = actions.do_create_template(
        actor=None,
        data={"name": "units", "subject": "unit", "area": world.div["A"], "list_size": 1},
        indicators=_indicators(),
    )
    run = actions.do_run_scorecard(units, this_month(), actor=None)
    keys = {s.subject_key: s for s in run.scores.all()}
    assert str(world.units["urban-A"].pk) in keys
    assert keys[str(world.units["urban-A"].pk)].unit_id == world.units["urban-A"].pk
    posts = actions.do_create_template(
        actor=None,
        data={"name": "posts", "subject": "post", "area": world.div["A"]},
        indicators=_indicators(),
    )
    run = actions.do_run_scorecard(posts, this_month(), actor=None)
    worker = run.scores.get(subject_key=str(people["worker"].pk))
    assert worker.user_id == people["worker"].pk and worker.rank == 1


# --- templates --------------------------------------------------------------------------------
@pytest.mark.django_db
def test_template_validation_names_fields(world: World, people: dict[str, User]) -> None:
    base = {"name": "x", "subject": "region", "area": world.div["A"], "level": Level.TOWNSHIP}
    with pytest.raises(ValidationError) as bad:
        actions.do_create_template(
            actor=None,
            data=base,
            indicators=[
                {"kpi": "nonsense", "weight": 10},
                {"kpi": "on_time_rate", "weight": 10, "target": "70"},
                {"kpi": "avg_handling_hours", "weight": 10},
                {"kind": "deduction", "kpi": "reworked"},
            ],
        )
    assert set(bad.value.message_dict) == {
        "indicators.0.kpi",
        "indicators.1.target",
        "indicators.2.target",
        "indicators.3.per_event",
    }
    with pytest.raises(ValidationError) as bad:
        actions.do_create_template(
            actor=None, data={**base, "level": Level.COUNTY}, indicators=_indicators()
        )
    assert set(bad.value.message_dict) == {"level"}
    with pytest.raises(ValidationError) as bad:
        actions.do_create_template(actor=None, data=base, indicators=[])
    assert "indicators" in bad.value.message_dict
    # Outside the actor's area.
    with pytest.raises(ValidationError) as bad:
        actions.do_create_template(
            actor=people["township"],
            data={**base, "area": world.div["B"], "level": 4},
            indicators=_indicators(),
        )
    assert set(bad.value.message_dict) == {"area"}


@pytest.mark.django_db
def test_update_template_checks_version_and_keeps_run_rules(
    world: World, people: dict[str, User]
) -> None:
    template = make_template(world)
    run = actions.do_run_scorecard(template, this_month(), actor=None)
    changed = actions.do_update_template(
        template,
        actor=people["county"],
        version=template.version,
        data={"list_size": 5},
        indicators=[{"kpi": "closure_rate", "weight": 100, "target": "0.9"}],
    )
    assert changed.version == template.version + 1 and changed.list_size == 5
    assert [i.kpi for i in changed.indicators.all()] == ["closure_rate"]
    assert ScorecardRun.objects.get(pk=run.pk).rules["indicators"][0]["kpi"] == "on_time_rate"
    with pytest.raises(Conflict):
        actions.do_update_template(
            changed, actor=people["county"], version=template.version, data={"name": "y"}
        )
    with pytest.raises(PermissionDenied):
        actions.do_update_template(
            changed, actor=people["leader"], version=changed.version, data={"name": "y"}
        )
    with pytest.raises(Conflict):
        actions.do_delete_template(changed, actor=people["county"])


@pytest.mark.django_db
def test_future_and_bad_months_are_refused(world: World) -> None:
    template = make_template(world)
    with pytest.raises(ValidationError) as bad:
        actions.do_run_scorecard(template, "2026-13", actor=None)
    assert set(bad.value.message_dict) == {"month"}
    later = (this_month() + dt.timedelta(days=40)).replace(day=1)
    with pytest.raises(ValidationError) as bad:
        actions.do_run_scorecard(template, later, actor=None)
    assert set(bad.value.message_dict) == {"month"}


# --- the monthly job and the command ----------------------------------------------------------
@pytest.mark.django_db
def test_monthly_job_drafts_last_month_once(world: World) -> None:
    assert "insights.scorecards" in [job.key for job in JOBS]
    template = make_template(world)
    make_template(world, at="B", is_active=False)
    made = actions.draft_month_runs()
    assert [r.template_id for r in made] == [template.pk]
    last = (this_month() - dt.timedelta(days=1)).replace(day=1)
    assert made[0].month == last
    assert actions.draft_month_runs() == []  # idempotent
    from civicgrid.insights.scorecard_tasks import draft_monthly_runs

    assert draft_monthly_runs.call() == []


@pytest.mark.django_db
def test_score_command(world: World, month_cases: dict[str, Case]) -> None:
    template = make_template(world)
    out = io.StringIO()
    call_command(
        "score",
        "--template",
        str(template.pk),
        "--month",
        f"{this_month():%Y-%m}",
        "--publish",
        stdout=out,
    )
    text = out.getvalue()
    assert "66.47" in text and "20.00" in text
    assert ScorecardRun.objects.get(template=template).status == "published"
    with pytest.raises(CommandError, match="--month"):
        call_command("score", "--month", "March")
    with pytest.raises(CommandError, match="--template"):
        call_command("score", "--template", "999999")


@pytest.mark.django_db
def test_default_scorecard(world: World) -> None:
    template = actions.ensure_default_scorecards(world.div["C"])
    assert actions.ensure_default_scorecards(world.div["C"]).pk == template.pk
    assert template.full_points == 90.0
    assert template.level == Level.TOWNSHIP
    kinds = [(i.kind, i.kpi) for i in template.indicators.all()]
    assert kinds[-1] == ("deduction", "reworked")
    run = actions.do_run_scorecard(template, this_month(), actor=None)
    assert run.scores.count() == 3  # A1, A2, B1
