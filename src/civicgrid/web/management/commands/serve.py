from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def gunicorn_command(host: str, port: int, workers: int, threads: int) -> list[str]:
    """The production web server (the benchmarks start the same one)."""
    return [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "civicgrid.config.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--access-logfile",
        "-",
        # Paths without their query string and no referrer: a search by ID or phone number
        # (`?q=…`) must not land in the access log in clear (ARCHITECTURE rule 5).
        "--access-logformat",
        '%(h)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss "%(a)s"',
        "--graceful-timeout",
        "10",
        "--timeout",
        "120",
    ]


class Command(BaseCommand):
    help = (
        "Serve civicgrid with the production server (gunicorn + whitenoise) and run the task "
        "worker beside it; Ctrl-C stops both."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("WEB_CONCURRENCY", 3)),
            help="gunicorn worker processes (default 3, or $WEB_CONCURRENCY)",
        )
        parser.add_argument("--threads", type=int, default=4, help="threads per web worker")
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="serve pages only; run `civicgrid worker` elsewhere",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.STATIC_ROOT / "staticfiles.json").exists() and not settings.DEBUG:
            raise CommandError("Static files are not collected: run `civicgrid collectstatic`.")
        env = dict(os.environ)
        web = gunicorn_command(
            options["host"], options["port"], options["workers"], options["threads"]
        )
        processes = [subprocess.Popen(web, env=env)]
        if not options["no_worker"]:
            worker = [sys.executable, "-m", "civicgrid.cli", "worker"]
            processes.append(subprocess.Popen(worker, env=env))
        self.stdout.write(
            f"civicgrid is serving http://{options['host']}:{options['port']}/ "
            f"({'with' if not options['no_worker'] else 'without'} the task worker); "
            "Ctrl-C stops it."
        )
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for process in processes:
                    if process.poll() is not None:
                        stopping = True
                        self.stderr.write(f"{process.args[0]!s} exited with {process.returncode}")  # type: ignore[index]
                time.sleep(0.3)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
