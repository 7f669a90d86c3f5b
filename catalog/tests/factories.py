import factory

from catalog.models import Category, Product, Variant
from catalog.services.stock import stock_receive


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n:03d}")
    slug = factory.Sequence(lambda n: f"product-{n:03d}")
    description = "A fine thing."
    category = factory.SubFactory(CategoryFactory)
    price_pennies = 1500


class VariantFactory(factory.django.DjangoModelFactory):
    """A variant; `stock=N` receives N units through the movement ledger."""

    class Meta:
        model = Variant
        skip_postgeneration_save = True

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    option_values = factory.LazyFunction(lambda: {"size": "M"})

    @factory.post_generation
    def stock(self, create, extracted, **kwargs):
        if create and extracted:
            stock_receive(variant=self, quantity=extracted)
            self.refresh_from_db()
