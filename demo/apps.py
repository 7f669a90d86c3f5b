from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data: seeds a living shop through the real services. Nothing imports it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "demo"
