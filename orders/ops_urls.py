from django.urls import path

from catalog import ops_views as stock_views
from orders import ops_queue_views, ops_views

app_name = "ops"
urlpatterns = [
    path("", ops_queue_views.queue, name="queue"),
    path("orders/packing-slips/", ops_views.packing_slips, name="packing_slips"),
    path("orders/bulk-fulfil/", ops_queue_views.bulk_fulfil, name="bulk_fulfil"),
    path("orders/<str:number>/", ops_views.order_detail, name="order_detail"),
    path("orders/<str:number>/fulfil/", ops_views.fulfil, name="order_fulfil"),
    path("orders/<str:number>/cancel/", ops_views.cancel, name="order_cancel"),
    path("orders/<str:number>/notes/", ops_views.note_add, name="order_note"),
    path("stock/", stock_views.stock, name="stock"),
    path(
        "stock/<int:variant_id>/adjust/",
        stock_views.stock_adjust_view,
        name="stock_adjust",
    ),
    path(
        "stock/<int:variant_id>/movements/",
        stock_views.stock_movements,
        name="stock_movements",
    ),
    path(
        "stock/products/<int:product_id>/threshold/",
        stock_views.stock_threshold,
        name="stock_threshold",
    ),
]
