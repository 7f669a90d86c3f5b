from django.conf import settings


def store(request):
    return {
        "STORE_CURRENCY": settings.STORE_CURRENCY,
        "STOCK_RESERVATION_MINUTES": settings.STOCK_RESERVATION_MINUTES,
    }
