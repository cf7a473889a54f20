from django.db import migrations

from civicgrid.accounts.defaults import DEFAULT_TYPES, ensure_department_types


def add_types(apps, schema_editor):
    ensure_department_types(apps.get_model("accounts", "DepartmentType"))


def remove_types(apps, schema_editor):
    DepartmentType = apps.get_model("accounts", "DepartmentType")
    DepartmentType.objects.filter(code__in=[c for c, _n, _e in DEFAULT_TYPES]).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(add_types, remove_types)]
