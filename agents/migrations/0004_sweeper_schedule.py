"""Register the stuck-run sweeper with beat, every 5 minutes."""

from django.db import migrations


def register(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_5_minutes, _ = CrontabSchedule.objects.get_or_create(
        minute="*/5", hour="*", day_of_month="*", month_of_year="*", day_of_week="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name="agencyops: sweep stuck runs",
        defaults={"task": "agents.tasks.sweep_stuck_runs", "crontab": every_5_minutes, "expire_seconds": 240},
    )


def unregister(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="agencyops: sweep stuck runs"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0003_agent_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(register, unregister)]
