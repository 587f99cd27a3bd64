"""A small shop: foreign keys, many-to-many links (plain and with a through
model), generic relations, natural keys and multi-table inheritance, so that
a restore has something of each to get right."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models


class CategoryManager(models.Manager):
    def get_by_natural_key(self, slug):
        return self.get(slug=slug)


class Category(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")

    objects = CategoryManager()

    def natural_key(self):
        return (self.slug,)

    def __str__(self):
        return self.name


class TagManager(models.Manager):
    def get_by_natural_key(self, name):
        return self.get(name=name)


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    objects = TagManager()

    def natural_key(self):
        return (self.name,)

    def __str__(self):
        return self.name


class Note(models.Model):
    """A note on anything (generic relation)."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    about = GenericForeignKey("content_type", "object_id")
    text = models.TextField()


class Product(models.Model):
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    attributes = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="products")
    added_at = models.DateTimeField(auto_now_add=True)
    notes = GenericRelation(Note, related_query_name="product")

    def __str__(self):
        return self.name


class DigitalProduct(Product):
    """Multi-table inheritance: a product that is downloaded."""

    download_url = models.URLField()


class Order(models.Model):
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="orders")
    placed_at = models.DateTimeField()
    products = models.ManyToManyField(Product, through="OrderLine", related_name="orders")
    notes = GenericRelation(Note, related_query_name="order")


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField(default=1)
