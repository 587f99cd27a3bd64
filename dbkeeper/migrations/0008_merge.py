# Joins two migrations written side by side on 0006_verify; no change of its own.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("dbkeeper", "0007_databases"),
        ("dbkeeper", "0007_schedules"),
        ("dbkeeper", "0007_retention"),
    ]
    operations = []
