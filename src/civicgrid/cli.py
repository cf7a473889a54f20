"""The `civicgrid` command: Django's manage.py with civicgrid's settings.

Commands may be written with hyphens (`civicgrid import-divisions`) or underscores.
"""

from __future__ import annotations

import os
import sys


def _civicgrid_commands() -> list[tuple[str, str]]:
    from django.core.management import get_commands, load_command_class

    rows = []
    for name, app in sorted(get_commands().items()):
        if not app.startswith("civicgrid"):
            continue
        command = load_command_class(app, name)
        summary = (command.help or "").strip().splitlines()[0] if command.help else ""
        rows.append((name.replace("_", "-"), summary))
    return rows


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicgrid.config.settings")
    argv = list(sys.argv if argv is None else argv)
    argv[0] = "civicgrid"
    if len(argv) > 1 and not argv[1].startswith("-"):
        argv[1] = argv[1].replace("-", "_")
    if len(argv) == 1 or argv[1:] in (["help"], ["-h"], ["--help"]):
        import django

        django.setup()
        print("civicgrid — grid-based community governance\n")
        print("Usage: civicgrid COMMAND [options]   (civicgrid COMMAND --help for details)\n")
        for name, summary in _civicgrid_commands():
            print(f"  {name:<22} {summary}")
        print(
            "\nAlso every Django command: migrate, createsuperuser, check, … (civicgrid help --all)"
        )
        return
    if argv[1:2] == ["help"] and "--all" in argv:
        argv = [argv[0], "help"]
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
