from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import TimeStampedModel


class DataQualityIssue(TimeStampedModel):
    """A wrong number or stuck process that a check found; one row per condition.

    open → acknowledged → resolved, or waived (stays waived until its evidence
    changes). A check run updates an open issue, never duplicates it, and resolves
    it when its condition clears.
    """

    class Severity(models.TextChoices):
        CRITICAL = "critical", "Critical"
        HIGH = "high", "High"
        MEDIUM = "medium", "Medium"
        LOW = "low", "Low"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"
        WAIVED = "waived", "Waived"

    check_name = models.CharField(max_length=64, db_index=True)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    fingerprint = models.CharField(
        max_length=200, help_text="What the issue is about, stable across runs."
    )
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    message = models.TextField()
    evidence = models.JSONField(default=dict)
    evidence_hash = models.CharField(max_length=64)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["status", "-last_seen"]
        constraints = [
            models.UniqueConstraint(
                fields=["check_name", "fingerprint"], name="dq_issue_one_per_condition"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "acknowledged", "resolved", "waived"]),
                name="dq_issue_status_valid",
            ),
        ]

    def __str__(self):
        return f"[{self.severity}] {self.check_name}: {self.message}"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.OPEN, self.Status.ACKNOWLEDGED)
