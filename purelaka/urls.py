from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("catalog.urls")),
    path("", include("orders.urls")),
    path("wishlist/", include("wishlist.urls")),
    path("ops/payments/", include("payments.ops_urls")),
    path("ops/customers/", include("subscriptions.ops_urls")),
    path("ops/", include("orders.ops_urls")),
    path("payments/", include("payments.urls")),
    path("analytics/", include("analyticsapp.urls")),
    path("account/subscriptions/", include("subscriptions.urls")),
    path("account/", include("accounts.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("dev/", include("core.urls")),  # the outbox: core/views.py says when
    path("admin/", admin.site.urls),
]
