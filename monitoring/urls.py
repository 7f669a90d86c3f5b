from django.urls import path

from monitoring import views

app_name = "monitoring"
urlpatterns = [
    path("healthz/", views.healthz, name="healthz"),
    path("", views.issues, name="issues"),
    path("checks/run/", views.checks_run_now, name="checks_run"),
    path("issues/<int:pk>/", views.issue_detail, name="issue_detail"),
    path("issues/<int:pk>/<slug:status>/", views.issue_status, name="issue_status"),
    path("audit/", views.audit_list, name="audit"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
]
