from django.urls import path

from monitoring import views

app_name = "monitoring"
urlpatterns = [path("healthz/", views.healthz, name="healthz")]
