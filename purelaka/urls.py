from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("catalog.urls")),
    path("", include("orders.urls")),
    path("wishlist/", include("wishlist.urls")),
    path("ops/", include("orders.ops_urls")),
    path("account/", include("accounts.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("admin/", admin.site.urls),
]
