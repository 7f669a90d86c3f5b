from celery import shared_task

from catalog.services.stock import reservations_expire


@shared_task(name="catalog.expire_reservations")
def expire_reservations_task() -> int:
    """Every 5 minutes (django-celery-beat): release expired stock reservations."""
    return reservations_expire(actor_label="celery:expire_reservations")
