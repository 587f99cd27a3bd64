from django.db import migrations, models


class Migration(migrations.Migration):
    """Verification: an operation kind of its own, and the sentence of a
    backup's last verification kept as data to show it translated."""

    dependencies = [
        ("dbkeeper", "0005_backup_catalog"),
    ]

    operations = [
        migrations.AlterField(
            model_name="operation", name="kind",
            field=models.CharField(choices=[("restore", "Restore"), ("backup", "Backup"), ("verify", "Verify")],
                                   default="restore", max_length=16),
        ),
        migrations.AddField(model_name="backup", name="verification_data",
                            field=models.JSONField(blank=True, null=True)),
        migrations.AddField(model_name="backup", name="verification_operation",
                            field=models.CharField(blank=True, default="", max_length=40)),
    ]
