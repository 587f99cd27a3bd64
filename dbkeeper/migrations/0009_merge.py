# Joins migrations written side by side; no change of its own.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("dbkeeper", "0008_merge"),
        ("dbkeeper", "0008_health"),
        ("dbkeeper", "0007_grants"),
    ]
    operations = []
