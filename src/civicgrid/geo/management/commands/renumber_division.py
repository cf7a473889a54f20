from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.core.context import work_context
from civicgrid.core.paths import subtree_q
from civicgrid.geo.actions import do_renumber_division
from civicgrid.geo.models import Division

from ._support import domain_call, find_division


class Command(BaseCommand):
    help = (
        "Give a division (and its whole subtree) a new code: 区划调整.\n"
        "The division keeps its identity; "
        "the codes of everything under it change with it (371602… → 371699…), rows that "
        "belong to those places (units, accounts, role assignments…) follow, and each "
        "renumbered division keeps a code-history entry."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("old_code", metavar="OLD_CODE", help="The division's current code.")
        parser.add_argument("new_code", metavar="NEW_CODE", help="Its new code, same level.")
        parser.add_argument("--note", default="", help="Why (e.g. the approval document number).")

    def handle(self, *args: Any, **options: Any) -> None:
        note = options["note"].strip()
        if len(note) > 200:
            raise CommandError(_("--note: at most 200 characters."))
        division = find_division(options["old_code"], option="OLD_CODE")
        old_code = division.code
        with work_context():
            division = domain_call(
                lambda: do_renumber_division(division, options["new_code"], actor=None, note=note)
            )
        moved = Division.objects.filter(subtree_q("path", division.path)).count()
        self.stdout.write(
            _("Renumbered %(name)s %(old)s → %(new)s (%(n)d division(s) changed code).")
            % {"name": division.name, "old": old_code, "new": division.code, "n": moved}
        )
