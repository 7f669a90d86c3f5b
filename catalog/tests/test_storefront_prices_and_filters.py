"""Cards say "from" only when the variants' prices differ; bad query values on the
product list are dropped one by one (issue 17)."""

import re

import pytest
from django.urls import reverse

from catalog.tests.factories import CategoryFactory, ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db


def _price_text(html, name):
    """The price line of the card of the product called `name`."""
    card = html[html.index(f">{name}</a>") :]
    return re.search(r'class="product-price">([^<]*)</p>', card).group(1)


def test_cards_say_from_when_a_larger_variant_costs_more(client):
    gloves = ProductFactory(name="Wool Gloves", price_pennies=1700)
    VariantFactory(product=gloves, stock=3)
    VariantFactory(product=gloves, stock=3, price_override_pennies=2550)
    same = ProductFactory(name="Oak Board", price_pennies=3800)
    VariantFactory(product=same, stock=3)
    VariantFactory(product=same, stock=3)
    overridden = ProductFactory(name="Linen Napkins", price_pennies=1000)
    VariantFactory(product=overridden, stock=3, price_override_pennies=1200)
    for url in (reverse("catalog:product_list"), reverse("catalog:home")):
        html = client.get(url).content.decode()
        assert _price_text(html, "Wool Gloves") == "from £17.00"
        assert _price_text(html, "Oak Board") == "£38.00"
        # One price for every variant, though not the product's own: no "from".
        assert _price_text(html, "Linen Napkins") == "£12.00"


def test_the_product_page_says_from_only_when_prices_differ(client):
    gloves = ProductFactory(name="Wool Gloves", price_pennies=1700)
    VariantFactory(product=gloves, stock=3)
    VariantFactory(product=gloves, stock=3, price_override_pennies=2550)
    board = ProductFactory(name="Oak Board", price_pennies=3800)
    VariantFactory(product=board, stock=3)
    assert "from £17.00" in client.get(gloves.get_absolute_url()).content.decode()
    html = client.get(board.get_absolute_url()).content.decode()
    assert "£38.00" in html and "from £38.00" not in html


def test_an_inactive_dearer_variant_does_not_make_a_from_price(client):
    product = ProductFactory(name="Wool Gloves", price_pennies=1700)
    VariantFactory(product=product, stock=3)
    VariantFactory(product=product, stock=3, price_override_pennies=2550, active=False)
    html = client.get(reverse("catalog:product_list")).content.decode()
    assert _price_text(html, "Wool Gloves") == "£17.00"


def _names(response):
    return [p.name for p in response.context["page"].object_list]


@pytest.mark.parametrize(
    "bad",
    [
        {"sort": "cheapest"},
        {"sort": "price; drop table"},
        {"q": "x" * 101},
        {"page": "-1"},
        {"page": "lots"},
    ],
)
def test_each_bad_value_is_ignored_and_the_others_kept(client, bad):
    kitchen = CategoryFactory(name="Kitchen", slug="kitchen")
    VariantFactory(product=ProductFactory(name="Mug", category=kitchen))
    VariantFactory(product=ProductFactory(name="Board", category=kitchen))
    VariantFactory(product=ProductFactory(name="Trowel"))
    response = client.get(
        reverse("catalog:product_list"), {"category": "kitchen", **bad}
    )
    assert response.status_code == 200
    assert _names(response) == ["Board", "Mug"]
    assert response.context["active_category"] == "kitchen"


def test_a_bad_sort_keeps_the_search_and_the_category(client):
    kitchen = CategoryFactory(name="Kitchen", slug="kitchen")
    VariantFactory(product=ProductFactory(name="Stoneware Mug", category=kitchen))
    VariantFactory(product=ProductFactory(name="Stoneware Bowl", category=kitchen))
    VariantFactory(product=ProductFactory(name="Stoneware Planter"))
    response = client.get(
        reverse("catalog:product_list"),
        {"q": "stoneware", "category": "kitchen", "sort": "bogus"},
    )
    assert _names(response) == ["Stoneware Bowl", "Stoneware Mug"]
