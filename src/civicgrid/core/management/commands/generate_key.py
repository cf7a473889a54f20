from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from civicgrid.core.crypto import SETTING, generate_master_key, load_master_key


class Command(BaseCommand):
    help = (
        f"Print a new random key for {SETTING}.\n"
        "The key is 32 random bytes as 64 hexadecimal digits. The command only prints it: put "
        "it in the environment of every civicgrid process and keep a copy in a safe place, "
        "because data encrypted under a lost key cannot be read again. Never replace the key "
        "of an installation that already holds encrypted data."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        key = generate_master_key()
        load_master_key(key)  # the printed key is always one the settings accept
        # Only the key on stdout, so that `export CIVICGRID_ENCRYPTION_KEY=$(civicgrid
        # generate-key)` works.
        self.stdout.write(key)
