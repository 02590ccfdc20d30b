"""Seed the pricing table with list prices (USD per million tokens); operators edit them."""

from django.db import migrations

from agents.prices import ensure_default_prices


def seed(apps, schema_editor):
    # Through the historical model, as a data migration must.
    ensure_default_prices(apps.get_model("agents", "ModelPrice"))


class Migration(migrations.Migration):
    dependencies = [("agents", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
