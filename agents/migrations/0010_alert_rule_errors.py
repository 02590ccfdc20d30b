from django.db import migrations, models


def hide_delivery_details(apps, schema_editor):
    # Deliveries used to record the raw exception text ("Connection refused" and the
    # like), which made channels a port scanner. Keep only whether each one worked.
    Alert = apps.get_model("agents", "Alert")
    batch = []
    for alert in Alert.objects.exclude(deliveries=[]).only("pk", "deliveries").iterator():
        for entry in alert.deliveries:
            entry["detail"] = "Delivered" if entry.get("ok") else "Failed"
        batch.append(alert)
        if len(batch) == 500:
            Alert.objects.bulk_update(batch, ["deliveries"])
            batch = []
    Alert.objects.bulk_update(batch, ["deliveries"])


class Migration(migrations.Migration):

    dependencies = [
        ('agents', '0009_memory'),
    ]

    operations = [
        migrations.AddField(
            model_name='alertrule',
            name='last_error',
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name='alertrule',
            name='last_error_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(hide_delivery_details, migrations.RunPython.noop),
    ]
