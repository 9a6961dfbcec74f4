from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [
        # Events written before this migration already have their deliveries: fanned out.
        migrations.AddField(
            model_name="outboxevent",
            name="fanned_out",
            field=models.BooleanField(default=True, verbose_name="fanned out"),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="outboxevent",
            name="fanned_out",
            field=models.BooleanField(db_default=False, default=False, verbose_name="fanned out"),
        ),
        migrations.AddIndex(
            model_name="outboxevent",
            index=models.Index(fields=["fanned_out", "id"], name="outbox_event_fan_out"),
        ),
    ]
