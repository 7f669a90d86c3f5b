from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="payment_processing_since",
            field=models.DateTimeField(
                blank=True,
                help_text="A delayed payment (a bank debit) is processing since this time.",
                null=True,
            ),
        ),
    ]
