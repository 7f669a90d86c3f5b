from django.conf import settings


def store(request):
    return {"STORE_CURRENCY": settings.STORE_CURRENCY}
