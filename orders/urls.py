from django.urls import path

from accounts.verification import verified_email_required
from orders import views

app_name = "orders"
urlpatterns = [
    path("cart/", views.cart_view, name="cart"),
    path("cart/add/", views.cart_add_view, name="cart_add"),
    path("cart/update/", views.cart_update_view, name="cart_update"),
    # A customer who signed up confirms the address before the first checkout.
    path("checkout/", verified_email_required(views.checkout), name="checkout"),
    path("orders/", views.order_list, name="order_list"),
    path("orders/<str:number>/", views.order_detail, name="order_detail"),
    path("orders/<str:number>/cancel/", views.order_cancel_view, name="order_cancel"),
]
