from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.core.context import work_context
from civicgrid.core.exceptions import Conflict
from civicgrid.insights import actions
from civicgrid.insights.models import ScorecardRun, ScorecardTemplate


class Command(BaseCommand):
    help = (
        "Compute the monthly scorecard runs (drafts) and print their rankings. Without "
        "--template every active scorecard; without --month the previous month. --publish "
        "freezes the runs with the cases behind every score. A published run is never changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--template", type=int, metavar="ID", help="Only this scorecard.")
        parser.add_argument("--month", metavar="YYYY-MM", help="The month (default: the last).")
        parser.add_argument(
            "--publish", action="store_true", help="Publish the runs after computing them."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            month = (
                actions.parse_month(options["month"], field="--month")
                if options["month"]
                else actions.previous_month(actions.current_month())
            )
        except ValidationError as exc:
            raise CommandError(_one(exc)) from None
        templates = ScorecardTemplate.objects.select_related("area").order_by("pk")
        if options["template"] is not None:
            templates = templates.filter(pk=options["template"])
            if not templates.exists():
                raise CommandError(
                    _("--template: no scorecard has the id %(id)s.") % {"id": options["template"]}
                )
        else:
            templates = templates.filter(is_active=True)
        failed = False
        with work_context():
            for template in templates:
                try:
                    run = self._run(template, month, publish=options["publish"])
                except (Conflict, ValidationError) as exc:
                    failed = True
                    message = exc.message if isinstance(exc, Conflict) else _one(exc)
                    self.stderr.write(f"{template.name} {month:%Y-%m}: {message}")
                    continue
                self._print(run)
        if failed:
            raise CommandError(_("Some scorecards could not be run (see above)."))

    def _run(self, template: ScorecardTemplate, month: Any, *, publish: bool) -> ScorecardRun:
        run = ScorecardRun.objects.filter(template=template, month=month).first()
        if run is None or not run.is_published:
            run = actions.do_run_scorecard(template, month, actor=None)
        if publish and not run.is_published:
            run = actions.do_publish_run(run, actor=None)
        return run

    def _print(self, run: ScorecardRun) -> None:
        status = run.get_status_display()
        self.stdout.write(f"{run.template.name} · {run.month:%Y-%m} · {status} (#{run.pk})")
        scores = list(run.scores.order_by("rank", "label"))
        if not scores:
            self.stdout.write("  " + _("nobody to rank"))
        for score in scores:
            self.stdout.write(f"  {score.rank:>4}  {score.total:>7}  {score.label}")


def _one(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return " ".join(exc.messages)
