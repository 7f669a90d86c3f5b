from django.urls import path

from subscriptions import ops_views

app_name = "customers_ops"
urlpatterns = [
    path("<int:pk>/", ops_views.customer_detail, name="customer"),
]
