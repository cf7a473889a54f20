"""Leave room on each page of the case table (PostgreSQL only).

The SLA sweep and the urging change only unindexed columns (sla_state, urge_count) of many rows
at once. With free space on the row's page PostgreSQL rewrites such a row in place (a heap-only
tuple) instead of adding an entry to each of the table's indexes; at fillfactor 100 the pages of
a loaded table are full and every one of those updates touches every index. The setting applies
to pages written from now on.
"""

from django.db import migrations

FILLFACTOR = 80


def set_fillfactor(apps, schema_editor):  # noqa: ARG001 - migration signature
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE cases_case SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps, schema_editor):  # noqa: ARG001 - migration signature
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE cases_case RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("cases", "0002_initial")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor, elidable=False)]
