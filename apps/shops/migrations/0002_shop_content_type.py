# The shop's content type follows it from channels to shops, so the permissions granted on
# shops (and admin history) keep their rows. A fresh database has no content types yet.

from django.db import migrations


def content_type_to_shops(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="shops", model="shop").exists():
        ContentType.objects.filter(app_label="channels", model="shop").update(app_label="shops")


def content_type_to_channels(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="channels", model="shop").exists():
        ContentType.objects.filter(app_label="shops", model="shop").update(app_label="channels")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("shops", "0001_initial"),
    ]

    operations = [migrations.RunPython(content_type_to_shops, content_type_to_channels)]
