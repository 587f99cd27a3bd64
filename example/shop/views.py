from django.db.models import Count
from django.shortcuts import render

from .models import Order, Product


def catalog(request):
    """The shop's front page: what the database holds right now."""
    products = Product.objects.select_related("category").prefetch_related("tags").order_by("name")[:50]
    return render(request, "shop/catalog.html", {
        "products": products,
        "product_count": Product.objects.count(),
        "orders": Order.objects.annotate(lines_count=Count("lines")).order_by("-placed_at")[:10],
    })
