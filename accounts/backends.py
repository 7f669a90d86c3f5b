from accounts.roles import Role


class RolePermissionBackend:
    """Grants every model permission to an active member of the admin role.

    Authenticates nobody: it only answers permission checks, so an admin who is not
    a superuser can use the Django admin site.
    """

    def authenticate(self, request, **credentials):
        return None

    def get_user(self, user_id):
        return None

    def _is_admin(self, user_obj):
        return (
            user_obj.is_active
            and getattr(user_obj, "is_authenticated", False)
            and Role.ADMIN in getattr(user_obj, "roles", ())
        )

    def has_perm(self, user_obj, perm, obj=None):
        return self._is_admin(user_obj)

    def has_module_perms(self, user_obj, app_label):
        return self._is_admin(user_obj)
