from django.urls import path

from accounts import staff_views, two_factor_views, views

app_name = "accounts"
urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("signup/", views.SignupView.as_view(), name="signup"),
    path("verify/<str:uidb64>/<str:token>/", views.verify, name="verify"),
    path("verify/resend/", views.verify_resend, name="verify_resend"),
    path(
        "password/reset/",
        views.PasswordResetRequestView.as_view(),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        views.PasswordResetSentView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<str:uidb64>/<str:token>/",
        views.PasswordResetSetView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        views.PasswordResetDoneSetView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "password/change/",
        views.PasswordChangeFormView.as_view(),
        name="password_change",
    ),
    path("2fa/setup/", two_factor_views.two_factor_setup, name="two_factor_setup"),
    path("2fa/verify/", two_factor_views.two_factor_verify, name="two_factor_verify"),
    path("addresses/<int:pk>/forget/", views.address_delete, name="address_delete"),
    path("staff/", staff_views.staff, name="staff"),
    path("staff/<int:pk>/role/", staff_views.staff_role, name="staff_role"),
    path("staff/<int:pk>/active/", staff_views.staff_active, name="staff_active"),
    path(
        "invitation/<str:uidb64>/<str:token>/",
        staff_views.InviteAcceptView.as_view(),
        name="invite_accept",
    ),
    path("", views.account, name="account"),
]
