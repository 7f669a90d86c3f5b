from django import template

from wishlist.selectors import wishlisted_product_ids

register = template.Library()


@register.simple_tag(takes_context=True)
def on_wishlist(context, product) -> bool:
    """`{% on_wishlist product as saved %}`: is it on the signed-in user's wishlist?"""
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return False
    cache = getattr(request, "_wishlisted_ids", None)
    if cache is None:
        cache = request._wishlisted_ids = wishlisted_product_ids(customer=request.user)
    return product.pk in cache
