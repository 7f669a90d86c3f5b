import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.services.stock import stock_reserve
from catalog.tests.factories import CategoryFactory, ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db


def _names(response):
    return [p.name for p in response.context["page"].object_list]


def test_product_list_searches_filters_sorts_and_paginates(client):
    kitchen = CategoryFactory(name="Kitchen", slug="kitchen")
    garden = CategoryFactory(name="Garden", slug="garden")
    VariantFactory(
        product=ProductFactory(
            name="Stoneware Mug", category=kitchen, price_pennies=1400
        )
    )
    VariantFactory(
        product=ProductFactory(name="Oak Board", category=kitchen, price_pennies=3800)
    )
    trowel = ProductFactory(
        name="Trowel", category=garden, price_pennies=2400, description="ash handle"
    )
    VariantFactory(product=trowel)
    url = reverse("catalog:product_list")
    assert _names(client.get(url, {"q": "mug"})) == ["Stoneware Mug"]
    assert _names(client.get(url, {"q": "ASH"})) == ["Trowel"]
    assert _names(client.get(url, {"category": "kitchen"})) == [
        "Oak Board",
        "Stoneware Mug",
    ]
    assert _names(client.get(url, {"sort": "price"})) == [
        "Stoneware Mug",
        "Trowel",
        "Oak Board",
    ]
    assert _names(client.get(url, {"sort": "-price"}))[0] == "Oak Board"
    # An unknown sort falls back to by name and keeps the category (issue 17).
    assert _names(client.get(url, {"category": "kitchen", "sort": "cheapest"})) == [
        "Oak Board",
        "Stoneware Mug",
    ]
    for i in range(12):
        VariantFactory(product=ProductFactory(name=f"Zed {i:02d}", category=garden))
    second = client.get(url, {"page": 2})
    assert len(second.context["page"].object_list) == 3
    assert client.get(url, {"page": 99}).status_code == 200


def test_inactive_products_are_not_listed_or_shown(client):
    product = ProductFactory(name="Hidden", active=False)
    VariantFactory(product=product, stock=3)
    assert "Hidden" not in client.get(reverse("catalog:product_list")).content.decode()
    assert client.get(product.get_absolute_url()).status_code == 404


def test_product_page_shows_availability_per_variant(client):
    product = ProductFactory(name="Mug", low_stock_threshold=5)
    plenty = VariantFactory(product=product, stock=20, option_values={"colour": "Sage"})
    few = VariantFactory(product=product, stock=4, option_values={"colour": "Oat"})
    gone = VariantFactory(
        product=product, stock=1, option_values={"colour": "Charcoal"}
    )
    stock_reserve(holder="order:1", quantities={gone.pk: 1})
    page = client.get(product.get_absolute_url())
    labels = {v.pk: v.stock.text for v in page.context["variants"]}
    assert labels == {
        plenty.pk: "In stock",
        few.pk: "Only 4 left",
        gone.pk: "Out of stock",
    }
    html = page.content.decode()
    assert f'value="{gone.pk}" disabled' in html
    assert page.context["product"].stock.text == "In stock"


def test_preorder_products_are_labelled_and_can_be_added(client):
    product = ProductFactory(name="Jacket", is_preorder=True)
    VariantFactory(product=product, stock=0)
    page = client.get(product.get_absolute_url()).content.decode()
    assert "Preorder" in page
    assert "disabled>Preorder" not in page


def test_a_size_variant_with_its_own_price_shows_a_from_price(client):
    product = ProductFactory(name="Board", price_pennies=2000)
    VariantFactory(product=product, stock=3)
    VariantFactory(product=product, stock=3, price_override_pennies=1500)
    page = client.get(reverse("catalog:product_list")).content.decode()
    assert "from £15.00" in page


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_product_list_costs_the_same_queries_for_few_or_many_rows(client):
    for _ in range(2):
        VariantFactory(stock=5)
    few = _queries(client, reverse("catalog:product_list"))
    for _ in range(20):
        product = ProductFactory()
        VariantFactory(product=product, stock=5)
        VariantFactory(product=product, stock=0)
    many = _queries(client, reverse("catalog:product_list"))
    assert few == many
    assert _queries(client, reverse("catalog:home")) == _queries(
        client, reverse("catalog:home")
    )
