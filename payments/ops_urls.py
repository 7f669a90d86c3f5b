from django.urls import path

from payments import views

app_name = "payments_ops"
urlpatterns = [
    path("", views.exceptions, name="exceptions"),
    path(
        "exceptions/<int:pk>/resolve/",
        views.exception_resolve_view,
        name="exception_resolve",
    ),
    path("events/", views.events, name="events"),
    path("events/reprocess/", views.reprocess, name="reprocess"),
    path("orders/<str:number>/refund/", views.refund, name="refund"),
]
