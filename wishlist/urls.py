from django.urls import path

from wishlist import views

app_name = "wishlist"
urlpatterns = [
    path("", views.wishlist_list, name="list"),
    path("<int:product_id>/add/", views.add, name="add"),
    path("<int:product_id>/remove/", views.remove, name="remove"),
    path("<int:product_id>/move-to-cart/", views.move_to_cart, name="move_to_cart"),
]
