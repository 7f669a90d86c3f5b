import logging

from django.core.exceptions import PermissionDenied

from accounts.access import enforce, rule_for

logger = logging.getLogger(__name__)


class AccessPolicyMiddleware:
    """Applies the access-policy table to every routed request.

    Fails closed: a URL with no rule is refused with 403 and logged, so a view added
    without a rule can never be reached by accident.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_name = request.resolver_match.view_name
        rule = rule_for(view_name)
        if rule is None:
            logger.error("no access rule for view %s: refused", view_name)
            raise PermissionDenied("This page has no access rule.")
        return enforce(rule, request)
