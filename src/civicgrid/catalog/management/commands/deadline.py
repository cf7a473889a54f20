from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from civicgrid.catalog.choices import LimitUnit
from civicgrid.catalog.selectors import current_calendar
from civicgrid.core import calendar as cal

from ._support import parse_moment

UNIT_ALIASES = {
    "working_hours": LimitUnit.WORKING_HOURS,
    "wh": LimitUnit.WORKING_HOURS,
    "工作时": LimitUnit.WORKING_HOURS,
    "working_days": LimitUnit.WORKING_DAYS,
    "wd": LimitUnit.WORKING_DAYS,
    "工作日": LimitUnit.WORKING_DAYS,
    "urgent_hours": LimitUnit.URGENT_HOURS,
    "uh": LimitUnit.URGENT_HOURS,
    "h": LimitUnit.URGENT_HOURS,
    "小时": LimitUnit.URGENT_HOURS,
}


class Command(BaseCommand):
    help = (
        "Print when a time limit runs out with the current working calendar, e.g. "
        "`civicgrid deadline 2026-09-30T16:00 2 working_days` (units: working_hours/wh, "
        "working_days/wd, urgent_hours/uh; START may be `now`)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("start", metavar="START", help="ISO time (local unless an offset is "
                            "given) or `now`.")  # fmt: skip
        parser.add_argument("amount", metavar="AMOUNT", help="e.g. 1, 0.5, 15")
        parser.add_argument("unit", metavar="UNIT", help="working_hours, working_days or "
                            "urgent_hours (wh, wd, uh)")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        text = options["start"].strip()
        start = timezone.now() if text.lower() == "now" else parse_moment(text, option="START")
        try:
            amount = Decimal(options["amount"])
        except InvalidOperation as exc:
            raise CommandError(
                _("AMOUNT: “%(value)s” is not a number.") % {"value": options["amount"]}
            ) from exc
        if not amount.is_finite() or amount <= 0 or amount > 10000:
            raise CommandError(_("AMOUNT: give a number above 0 and at most 10,000."))
        unit = UNIT_ALIASES.get(options["unit"].strip().lower())
        if unit is None:
            raise CommandError(
                _(
                    "UNIT: “%(value)s” is not a unit; use working_hours, working_days or "
                    "urgent_hours."
                )
                % {"value": options["unit"]}
            )
        calendar = current_calendar()
        try:
            due = cal.deadline(start, float(amount), unit, calendar)
        except cal.CalendarError as exc:
            raise CommandError(str(exc)) from exc
        local_start = timezone.localtime(start, calendar.tz)
        local_due = timezone.localtime(due, calendar.tz)
        self.stdout.write(
            _("%(amount)s %(unit)s from %(start)s: due %(due)s")
            % {
                "amount": f"{amount.normalize():f}",
                "unit": LimitUnit(unit).label,
                "start": date_format(local_start, "Y-m-d H:i (l)"),
                "due": date_format(local_due, "Y-m-d H:i (l)"),
            }
        )
        self.stdout.write(local_due.isoformat())
