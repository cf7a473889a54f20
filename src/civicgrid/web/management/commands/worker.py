from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the background task worker (coverage checks, imports); stops on Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("db_worker", interval=options["interval"], startup_delay=False)
