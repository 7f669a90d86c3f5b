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


def test_move_to_cart_adds_the_chosen_variant_and_closes_the_item(client, customer):
    product = ProductFactory()
    VariantFactory(product=product, stock=4, option_values={"size": "S"})
    large = VariantFactory(product=product, stock=4, option_values={"size": "L"})
    client.force_login(customer)
    client.post(reverse("wishlist:add", args=[product.pk]))
    response = client.post(
        reverse("wishlist:move_to_cart", args=[product.pk]), {"variant": large.pk}
    )
    assert response["Location"] == reverse("orders:cart")
    assert CartItem.objects.get(cart__customer=customer).variant == large
    item = WishlistItem.objects.get(customer=customer)
    assert item.removal == "moved_to_cart"


def test_move_to_cart_without_a_choice_asks_for_the_variant(client, customer):
    """Several variants and none chosen: nothing is added for the customer; the
    product page asks which (issue 17)."""
    product = ProductFactory(name="Wool Gloves")
    VariantFactory(product=product, stock=0)
    VariantFactory(product=product, stock=4)
    client.force_login(customer)
    client.post(reverse("wishlist:add", args=[product.pk]))
    response = client.post(
        reverse("wishlist:move_to_cart", args=[product.pk]), follow=True
    )
    assert response.redirect_chain[-1][0] == product.get_absolute_url()
    assert "Choose which Wool Gloves you would like." in response.content.decode()
    assert not CartItem.objects.exists()
    assert WishlistItem.objects.get(customer=customer).removed_at is None


def test_a_single_variant_product_moves_straight_to_the_cart(client, customer):
    product = ProductFactory()
    only = VariantFactory(product=product, stock=2)
    client.force_login(customer)
    client.post(reverse("wishlist:add", args=[product.pk]))
    response = client.post(reverse("wishlist:move_to_cart", args=[product.pk]))
    assert response["Location"] == reverse("orders:cart")
    assert CartItem.objects.get(cart__customer=customer).variant == only


def test_an_out_of_stock_or_foreign_variant_is_refused(client, customer):
    product = ProductFactory()
    gone = VariantFactory(product=product, stock=0, option_values={"size": "S"})
    VariantFactory(product=product, stock=3, option_values={"size": "L"})
    elsewhere = VariantFactory(stock=5)
    client.force_login(customer)
    client.post(reverse("wishlist:add", args=[product.pk]))
    move = reverse("wishlist:move_to_cart", args=[product.pk])
    for variant, error in [
        (gone, "is out of stock"),
        (elsewhere, "That option is not for sale any more."),
    ]:
        response = client.post(move, {"variant": variant.pk}, follow=True)
        assert response.redirect_chain[-1][0] == reverse("wishlist:list")
        assert error in response.content.decode()
    assert not CartItem.objects.exists()


def test_the_wishlist_row_offers_each_variant_with_its_price(client, customer):
    product = ProductFactory(name="Wool Gloves", price_pennies=1700)
    small = VariantFactory(product=product, stock=3, option_values={"size": "S"})
    gone = VariantFactory(
        product=product,
        stock=0,
        option_values={"size": "XL"},
        price_override_pennies=2550,
    )
    single = ProductFactory(name="Tea Towel")
    VariantFactory(product=single, stock=3)
    client.force_login(customer)
    client.post(reverse("wishlist:add", args=[product.pk]))
    client.post(reverse("wishlist:add", args=[single.pk]))
    html = client.get(reverse("wishlist:list")).content.decode()
    assert f'<option value="{small.pk}">S · £17.00</option>' in html
    assert (
        f'<option value="{gone.pk}" disabled>XL · £25.50 · out of stock</option>'
    ) in html
    assert f'id="move-variant-{product.pk}"' in html
    assert f'id="move-variant-{single.pk}"' not in html
    assert "from £17.00" in html


def test_the_product_page_knows_it_is_on_the_wishlist(client, customer):
    product = ProductFactory()
    VariantFactory(product=product, stock=2)
    client.force_login(customer)
    assert "Save to wishlist" in client.get(product.get_absolute_url()).content.decode()
    client.post(reverse("wishlist:add", args=[product.pk]))
    assert "On your wishlist" in client.get(product.get_absolute_url()).content.decode()
