from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

from accounts.roles import Role


class PureLakaAdminSite(admin.AdminSite):
    site_header = "PureLaka administration"
    site_title = "PureLaka admin"
    index_title = "Administration"

    def has_permission(self, request):
        """The admin role (or a superuser) may use the admin site; nobody else."""
        user = request.user
        return user.is_active and user.is_authenticated and user.has_role(Role.ADMIN)


class PureLakaAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.PureLakaAdminSite"
