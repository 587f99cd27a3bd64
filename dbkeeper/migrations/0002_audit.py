# The audit log (dbkeeper/audit/): append-only, HMAC-chained rows.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dbkeeper', '0002_target_trust_owner_extensions'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditEntry',
            fields=[
                ('number', models.BigIntegerField(primary_key=True, serialize=False)),
                ('at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('action', models.CharField(db_index=True, max_length=64)),
                ('user_id', models.CharField(blank=True, default='', max_length=64)),
                ('username', models.CharField(blank=True, db_index=True, default='', max_length=150)),
                ('method', models.CharField(blank=True, default='', max_length=32)),
                ('token_prefix', models.CharField(blank=True, default='', max_length=8)),
                ('address', models.CharField(blank=True, default='', max_length=64)),
                ('user_agent', models.CharField(blank=True, default='', max_length=300)),
                ('target', models.CharField(blank=True, default='', max_length=255)),
                ('database', models.CharField(blank=True, default='', max_length=255)),
                ('backup', models.CharField(blank=True, default='', max_length=255)),
                ('operation', models.CharField(blank=True, db_index=True, default='', max_length=40)),
                ('outcome', models.CharField(blank=True, default='', max_length=32)),
                ('sentence', models.JSONField(blank=True, null=True)),
                ('details', models.JSONField(blank=True, default=dict)),
                ('parent', models.BigIntegerField(blank=True, null=True)),
                ('hmac', models.CharField(max_length=64)),
            ],
            options={
                'ordering': ['number'],
            },
        ),
    ]
