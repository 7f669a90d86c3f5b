from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "subscriptions"

    def ready(self):
        from payments.handlers import HANDLERS
        from payments.services.anonymise import ERASURE_GUARDS, ERASURE_PREPARATIONS
        from subscriptions.erasure import erasure_cancel, erasure_refusal
        from subscriptions.handlers import BILLING_HANDLERS

        HANDLERS.update(BILLING_HANDLERS)
        ERASURE_GUARDS["subscriptions"] = erasure_refusal
        ERASURE_PREPARATIONS["subscriptions"] = erasure_cancel
