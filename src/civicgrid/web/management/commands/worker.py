from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from civicgrid.core.schedule import Scheduler


class Command(BaseCommand):
    help = (
        "Run the background task worker (imports, exports, coverage checks, the SLA sweep every "
        "CIVICGRID_SWEEP_SECONDS, webhook delivery every CIVICGRID_WEBHOOK_SECONDS); stops on "
        "Ctrl-C. Run as many as you like: each periodic job "
        "is queued at most once per interval across all of them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
        parser.add_argument(
            "--no-schedule",
            action="store_true",
            help="only run queued tasks; queue no periodic jobs from this process",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scheduler = None
        if not options["no_schedule"]:
            scheduler = Scheduler(tick=min(5.0, max(1.0, settings.SWEEP_SECONDS / 4)))
            scheduler.start()
        try:
            # Without the autoreloader: it would run the worker in a child process, away from
            # the scheduler thread and from the signals that stop them both.
            call_command(
                "db_worker", interval=options["interval"], startup_delay=False, reload=False
            )
        finally:
            # db_worker leaves through sys.exit on Ctrl-C/SIGTERM; stop the scheduler with it.
            if scheduler is not None:
                scheduler.stop()
                scheduler.join(timeout=10)
