from django.db import migrations

from civicgrid.catalog.defaults import ensure_default_catalog


def add_defaults(apps, schema_editor):
    ensure_default_catalog(apps)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
