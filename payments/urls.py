from django.urls import path

from payments import views

app_name = "payments"
urlpatterns = [
    path("webhook/", views.webhook, name="webhook"),
    path("orders/<str:number>/pay/", views.pay, name="pay"),
    path("offline/<str:session_id>/", views.offline_checkout, name="offline_checkout"),
    path(
        "offline/subscription/<str:token>/",
        views.offline_subscription_checkout,
        name="offline_subscription_checkout",
    ),
]
