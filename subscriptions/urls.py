from django.urls import path

from subscriptions import views

app_name = "subscriptions"
urlpatterns = [
    path("", views.subscription_list, name="list"),
    path("subscribe/", views.subscribe, name="subscribe"),
    path("<int:pk>/cancel/", views.subscription_cancel, name="cancel"),
]
