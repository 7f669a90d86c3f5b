from django.urls import path

from analyticsapp import api_token_views, views
from core.replica import analytics_read_view as on_replica

# Dashboards, drill-downs and exports read from the replica when one is configured
# and fresh (core/replica.py); the definitions page reads no data.
app_name = "analyticsapp"
urlpatterns = [
    path("", on_replica(views.executive), name="dashboard"),
    path("customers/", on_replica(views.customers), name="customers"),
    path("products/", on_replica(views.products), name="products"),
    path("subscriptions/", on_replica(views.subscriptions), name="subscriptions"),
    path("ops/", on_replica(views.ops_view), name="ops"),
    path("reconciliation/", on_replica(views.reconciliation), name="reconciliation"),
    path(
        "reconciliation/payouts/<str:payout_id>/",
        on_replica(views.reconciliation_payout),
        name="reconciliation_payout",
    ),
    path(
        "reconciliation/orders/<str:number>/",
        on_replica(views.reconciliation_order),
        name="reconciliation_order",
    ),
    path("definitions/", views.definitions, name="definitions"),
    path("exports/", on_replica(views.exports), name="exports"),
    path(
        "exports/bi-pack.zip", on_replica(views.export_bi_pack), name="export_bi_pack"
    ),
    path(
        "exports/<slug:name>.csv",
        on_replica(views.export_download),
        name="export_download",
    ),
    # The user's own API tokens: no analytics data read, so not on the replica.
    path("api-tokens/", api_token_views.api_tokens, name="api_tokens"),
    path(
        "api-tokens/<int:pk>/revoke/",
        api_token_views.api_token_revoke_view,
        name="api_token_revoke",
    ),
]
