from django.urls import path

from analyticsapp import views

app_name = "analyticsapp"
urlpatterns = [
    path("", views.executive, name="dashboard"),
    path("customers/", views.customers, name="customers"),
    path("products/", views.products, name="products"),
    path("subscriptions/", views.subscriptions, name="subscriptions"),
    path("ops/", views.ops_view, name="ops"),
    path("reconciliation/", views.reconciliation, name="reconciliation"),
    path(
        "reconciliation/payouts/<str:payout_id>/",
        views.reconciliation_payout,
        name="reconciliation_payout",
    ),
    path(
        "reconciliation/orders/<str:number>/",
        views.reconciliation_order,
        name="reconciliation_order",
    ),
    path("definitions/", views.definitions, name="definitions"),
    path("exports/", views.exports, name="exports"),
    path("exports/bi-pack.zip", views.export_bi_pack, name="export_bi_pack"),
    path("exports/<slug:name>.csv", views.export_download, name="export_download"),
]
