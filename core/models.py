from django.db import models


class TimeStampedModel(models.Model):
    """Abstract base: `created_at` and `updated_at`, both UTC."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Message(TimeStampedModel):
    """One email to one person: what was rendered, about what, and what became of it.

    queued → sent, or failed once its retries are spent (core.mail). A message of a
    kind about a thing goes to a person once per dedupe key, so Stripe's repeated
    deliveries of an event never send it twice.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=40, db_index=True)
    recipient = models.EmailField()
    subject = models.CharField(max_length=200)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    # What the message is about, as audit rows name it: "order" and its pk.
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    # Tells apart messages of a kind about one thing that may each go once (one
    # per refund id, per failed invoice attempt); "" for a once-only message.
    dedupe_key = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    provider_message_id = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "target_type", "target_id", "recipient", "dedupe_key"],
                name="core_message_once_per_key",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "sent", "failed"]),
                name="core_message_status_valid",
            ),
        ]

    def __str__(self):
        return f"{self.kind} to {self.recipient} ({self.status})"
