from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("dbkeeper", "0004_target_password"),
    ]

    operations = [
        migrations.AddField(model_name="backup", name="target_spec", field=models.TextField(blank=True, default="")),
        migrations.AddField(model_name="backup", name="target_display",
                            field=models.CharField(blank=True, default="", max_length=255)),
        migrations.AddField(model_name="backup", name="database",
                            field=models.CharField(blank=True, default="", max_length=255)),
        migrations.AddField(model_name="backup", name="started_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="backup", name="finished_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="backup", name="duration_seconds", field=models.FloatField(blank=True, null=True)),
        migrations.AddField(model_name="backup", name="tool_version",
                            field=models.CharField(blank=True, default="", max_length=64)),
        migrations.AddField(model_name="backup", name="server_version",
                            field=models.CharField(blank=True, default="", max_length=64)),
        migrations.AddField(model_name="backup", name="tables", field=models.JSONField(blank=True, default=dict)),
        migrations.AddField(model_name="backup", name="origin",
                            field=models.CharField(blank=True, default="", max_length=64)),
        migrations.AddField(model_name="backup", name="operation_id",
                            field=models.CharField(blank=True, default="", max_length=40)),
        migrations.AddField(model_name="backup", name="roles_name",
                            field=models.CharField(blank=True, default="", max_length=512)),
        migrations.AddField(model_name="backup", name="pinned", field=models.BooleanField(default=False)),
        migrations.AddField(model_name="backup", name="verified_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="backup", name="verification_outcome",
                            field=models.CharField(blank=True, default="", max_length=16)),
        migrations.AddField(model_name="backup", name="verification_message",
                            field=models.TextField(blank=True, default="")),
    ]
