from django.db import migrations, models


def number_existing_refunds(apps, schema_editor):
    Refund = apps.get_model("payments", "Refund")
    for refund in Refund.objects.filter(out_refund_no__isnull=True).only("pk"):
        Refund.objects.filter(pk=refund.pk).update(out_refund_no=f"R{refund.pk:019d}")


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="refund",
            name="out_refund_no",
            field=models.CharField(max_length=32, null=True, verbose_name="merchant refund number"),
        ),
        migrations.RunPython(number_existing_refunds, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="refund",
            name="out_refund_no",
            field=models.CharField(max_length=32, unique=True, verbose_name="merchant refund number"),
        ),
        migrations.AlterField(
            model_name="reconciliationresult",
            name="refund_reference",
            field=models.CharField(blank=True, max_length=64, verbose_name="merchant refund number"),
        ),
        migrations.AlterField(
            model_name="statementline",
            name="refund_reference",
            field=models.CharField(blank=True, max_length=64, verbose_name="merchant refund number"),
        ),
    ]
