from django.db import migrations, models


class Migration(migrations.Migration):
    """Targets say whether they trust their backups fully, who owns restored
    objects, and which extensions dbkeeper may create for a backup."""

    dependencies = [
        ("dbkeeper", "0002_backup_storage_encryption"),
    ]

    operations = [
        migrations.AddField(model_name="target", name="trust",
                            field=models.CharField(blank=True, default="", max_length=16)),
        migrations.AddField(model_name="target", name="owner",
                            field=models.CharField(blank=True, default="", max_length=63)),
        migrations.AddField(model_name="target", name="extensions",
                            field=models.JSONField(blank=True, default=list)),
    ]
