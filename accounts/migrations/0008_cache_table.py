"""The database cache's table (settings.CACHES, ``taisly_dash_cache``), made by ``migrate``.

allauth counts log-in attempts in the cache and django-q2 clusters keep their status there: a
database that was only migrated answered every log-in with a 500 until someone remembered
``manage.py createcachetable``. This runs that command's own code (Django's schema for
DatabaseCache, on whatever vendor the database is), which leaves a table that already exists
alone, so it is safe on a database where the command was run by hand before. A cache added to
CACHES later still needs ``createcachetable``.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_audit_staff_actions"),
    ]

    # Leaving it behind on the way back is harmless (the cache holds nothing that must go).
    operations = [migrations.RunPython(create_cache_tables, migrations.RunPython.noop)]
