# Saved target passwords leave the URL for an encrypted column
# (dbkeeper/secretbox.py: Fernet, key file apart from the control database).

from django.db import migrations, models


def encrypt_saved_passwords(apps, schema_editor):
    from dbkeeper import secretbox
    from dbkeeper.dburl import DbUrl

    Target = apps.get_model('dbkeeper', 'Target')
    for row in Target.objects.using(schema_editor.connection.alias).all():
        try:
            url = DbUrl.parse(row.url)
        except ValueError:
            continue
        if not url.password:
            continue
        row.password_encrypted = secretbox.encrypt(url.password)
        row.url = DbUrl(url.kind, url.name, url.user, '', url.host, url.port, url.options).to_url()
        row.save(update_fields=['url', 'password_encrypted'])


def decrypt_saved_passwords(apps, schema_editor):
    from dbkeeper import secretbox
    from dbkeeper.dburl import DbUrl

    Target = apps.get_model('dbkeeper', 'Target')
    for row in Target.objects.using(schema_editor.connection.alias).exclude(password_encrypted=''):
        url = DbUrl.parse(row.url)
        password = secretbox.decrypt(row.password_encrypted)
        row.url = DbUrl(url.kind, url.name, url.user, password, url.host, url.port, url.options).to_url()
        row.password_encrypted = ''
        row.save(update_fields=['url', 'password_encrypted'])


class Migration(migrations.Migration):

    dependencies = [
        ('dbkeeper', '0003_signin'),
    ]

    operations = [
        migrations.AddField(
            model_name='target',
            name='password_encrypted',
            field=models.TextField(blank=True, default=''),
        ),
        migrations.RunPython(encrypt_saved_passwords, decrypt_saved_passwords),
    ]
