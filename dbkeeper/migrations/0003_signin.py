# Sign-in protection (dbkeeper/access/signin.py, twofactor.py): failure
# counts and locks, and TOTP devices.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dbkeeper', '0002_audit'),
    ]

    operations = [
        migrations.CreateModel(
            name='SigninFailure',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('scope', models.CharField(max_length=16)),
                ('key', models.CharField(max_length=150)),
                ('at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'indexes': [models.Index(fields=['scope', 'key', 'at'], name='dbkeeper_si_scope_5bf337_idx')],
            },
        ),
        migrations.CreateModel(
            name='SigninLock',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('scope', models.CharField(max_length=16)),
                ('key', models.CharField(max_length=150)),
                ('until', models.DateTimeField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('scope', 'key'), name='dbkeeper_signinlock_scope_key')],
            },
        ),
        migrations.CreateModel(
            name='TotpDevice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('user_id', models.CharField(max_length=64, unique=True)),
                ('username', models.CharField(max_length=150)),
                ('secret_encrypted', models.TextField()),
                ('last_step', models.BigIntegerField(default=0)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
    ]
