from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicgrid.core.context import work_context
from civicgrid.core.importing import TerminalProgress
from civicgrid.demo.city import PRESETS, plan_city
from civicgrid.demo.load import DEMO_PASSWORD, DemoLoadError, existing_logins, load_city
from civicgrid.geo.models import Division


class Command(BaseCommand):
    help = (
        "Generate a Binzhou-like demo city: divisions with valid codes under 3716, grid "
        "boundaries that tile each community, household counts, units and one login per role."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--preset",
            choices=sorted(PRESETS),
            default="small",
            help="small: about 60 grids, in seconds; city: about 7,800 grids.",
        )
        parser.add_argument(
            "--seed", type=int, default=1, help="Random seed (same seed, same city)."
        )
        parser.add_argument(
            "--cases",
            type=int,
            default=None,
            help="How many demo cases to write through the case actions (default: 60 for small, "
            "500 for city; about 16 ms each).",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (but list the logins) if divisions already exist.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if Division.objects.exists():
            if options["if_empty"]:
                self.stdout.write("The database already holds a city; keeping it.")
                self._print_logins(existing_logins())
                return
            raise CommandError(
                "The database already holds divisions; the demo city needs an empty database "
                "(or pass --if-empty to keep what is there)."
            )
        started = time.monotonic()
        plan = plan_city(options["preset"], options["seed"])
        if options["cases"] is not None:
            if options["cases"] < 0:
                raise CommandError("--cases must be zero or more.")
            plan.cases = options["cases"]
        self.stdout.write(
            f"Planned {plan.count(3)} counties, {plan.count(4)} townships, "
            f"{plan.count(5)} communities/villages, {plan.count(6)} grids."
        )
        with work_context():
            try:
                result = load_city(plan, progress=TerminalProgress("writing", self.stderr))
            except DemoLoadError as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Wrote {result.divisions.created} divisions, {result.boundaries.created} boundaries, "
            f"{result.units} units and {result.users} accounts in "
            f"{time.monotonic() - started:.1f} s."
        )
        if result.cases.cases:
            states = ", ".join(f"{state} {n}" for state, n in sorted(result.cases.states.items()))
            self.stdout.write(
                f"Cases: {result.cases.cases} ({states}); {result.cases.overdue} overdue now; "
                f"{result.cases.seconds:.1f} s."
            )
        reg = result.registry
        if reg.residents:
            self.stdout.write(
                f"Basic information in {reg.grids} grids: {reg.buildings} buildings, "
                f"{reg.houses} houses, {reg.households} households, {reg.residents} residents, "
                f"{reg.organisations} organisations, {reg.places} places, {reg.care_tags} care "
                f"tags ({reg.overdue} visits overdue)."
            )
        fw = result.fieldwork
        if fw.visits or fw.patrols:
            self.stdout.write(
                f"Field work in {fw.grids} grids by {fw.workers} grid workers: {fw.visits} visits "
                f"({fw.care_visits} to care-group members), {fw.patrols} patrols, "
                f"{fw.check_ins} check-ins; {fw.seconds:.1f} s."
            )
        self.stdout.write(
            f"Coverage check: {result.coverage_issues} issue(s) — "
            + ("; ".join(plan.faults) or "none injected")
        )
        self._print_logins(result.logins)

    def _print_logins(self, logins: list[Any]) -> None:
        self.stdout.write(f"\nLogins (password for all: {DEMO_PASSWORD}):")
        for login in logins:
            self.stdout.write(f"  {login.username:<12} {login.role} — {login.where}")
