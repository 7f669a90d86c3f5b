from django.db import models


class TimeStampedModel(models.Model):
    """Abstract base: `created_at` and `updated_at`, both UTC."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
