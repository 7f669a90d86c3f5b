from django.apps import AppConfig


class AnalyticsappConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "analyticsapp"
