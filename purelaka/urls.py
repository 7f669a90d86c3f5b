from django.contrib import admin
from django.urls import include, path

from analyticsapp.api import api

urlpatterns = [
    path("", include("catalog.urls")),
    path("", include("orders.urls")),
    path("wishlist/", include("wishlist.urls")),
    path("ops/payments/", include("payments.ops_urls")),
    path("ops/customers/", include("subscriptions.ops_urls")),
    path("ops/", include("orders.ops_urls")),
    path("payments/", include("payments.urls")),
    path("analytics/", include("analyticsapp.urls")),
    path("api/", api.urls),  # the read-only JSON API: bearer tokens, not sessions
    path("account/subscriptions/", include("subscriptions.urls")),
    path("account/", include("accounts.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("dev/", include("core.urls")),  # the outbox: core/views.py says when
    path("admin/", admin.site.urls),
]
