from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "subscriptions"

    def ready(self):
        from payments.handlers import HANDLERS
        from subscriptions.handlers import BILLING_HANDLERS

        HANDLERS.update(BILLING_HANDLERS)
