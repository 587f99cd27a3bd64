from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("dbkeeper", "0002_stored_messages"),
    ]

    operations = [
        migrations.AddField(
            model_name="backup",
            name="storage",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="backup",
            name="recipients",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
