import pytest
from django.urls import reverse

from catalog.tests.factories import ProductFactory, VariantFactory
from orders.models import CartItem
from wishlist.models import WishlistItem

pytestmark = pytest.mark.django_db


def test_add_is_idempotent_and_every_add_is_kept_after_removal(client, customer):
    product = ProductFactory()
    VariantFactory(product=product, stock=3)
    client.force_login(customer)
    add = reverse("wishlist:add", args=[product.pk])
    client.post(add)
    client.post(add)
    assert WishlistItem.objects.filter(customer=customer).count() == 1
    client.post(reverse("wishlist:remove", args=[product.pk]))
    client.post(add)
    rows = list(WishlistItem.objects.filter(customer=customer).order_by("id"))
    assert len(rows) == 2
    assert rows[0].removed_at is not None and rows[0].removal == "removed"
    assert rows[1].removed_at is None
    assert rows[0].added_at <= rows[1].added_at


def test_the_list_shows_open_items_with_availability(client, customer):
    kept = ProductFactory(name="Kept Mug")
    VariantFactory(product=kept, stock=0)
    dropped = ProductFactory(name="Dropped Vase")
    VariantFactory(product=dropped, stock=3)
    client.force_login(customer)
    client.post(reverse("wishlist:add", args=[kept.pk]))
    client.post(reverse("wishlist:add", args=[dropped.pk]))
    client.post(reverse("wishlist:remove", args=[dropped.pk]))
    response = client.get(reverse("wishlist:list"))
    assert [p.name for p in response.context["products"]] == ["Kept Mug"]
    assert "Out of stock" in response.content.decode()


def test_move_to_cart_adds_the_best_variant_and_closes_the_item(client, customer):
    product = ProductFactory()
    VariantFactory(product=product, stock=0)
    in_stock = VariantFactory(product=product, stock=4)
    client.force_login(customer)
    client.post(reverse("wishlist:add", args=[product.pk]))
    response = client.post(reverse("wishlist:move_to_cart", args=[product.pk]))
    assert response["Location"] == reverse("orders:cart")
    assert CartItem.objects.get(cart__customer=customer).variant == in_stock
    item = WishlistItem.objects.get(customer=customer)
    assert item.removal == "moved_to_cart"


def test_the_product_page_knows_it_is_on_the_wishlist(client, customer):
    product = ProductFactory()
    VariantFactory(product=product, stock=2)
    client.force_login(customer)
    assert "Save to wishlist" in client.get(product.get_absolute_url()).content.decode()
    client.post(reverse("wishlist:add", args=[product.pk]))
    assert "On your wishlist" in client.get(product.get_absolute_url()).content.decode()
