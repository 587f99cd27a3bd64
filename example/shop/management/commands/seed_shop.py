"""``manage.py seed_shop --objects N``: fill the shop with made-up data of
every kind (users, categories, tags, products with tags, digital products,
orders with lines, notes on products and orders), about N objects in all."""

import random
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from shop.models import Category, DigitalProduct, Note, Order, OrderLine, Product, Tag

BATCH = 5000
WORDS = "amber basil cedar delta ember fjord garnet harbor indigo juniper kelp lumen maple nectar onyx".split()


class Command(BaseCommand):
    help = "Fill the shop with made-up data (about --objects objects)."

    def add_arguments(self, parser):
        parser.add_argument("--objects", type=int, default=200)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--database", default="default")

    def handle(self, *args, objects, seed, database, **options):
        rnd = random.Random(seed)
        db = database
        n_users = max(2, objects // 100)
        n_tags = 20
        n_categories = 10
        n_products = max(4, objects * 30 // 100)
        n_digital = max(1, objects // 50)
        n_orders = max(2, objects // 10)
        n_lines = max(2, objects * 30 // 100)
        n_notes = max(2, objects - n_users - n_tags - n_categories - n_products - 2 * n_digital - n_orders - n_lines)

        def text(k):
            return " ".join(rnd.choice(WORDS) for _ in range(k))

        now = timezone.now()
        User = get_user_model()
        with transaction.atomic(using=db):
            users = User.objects.db_manager(db).bulk_create(
                [User(username=f"customer{i}", email=f"customer{i}@example.com", display_name=text(2),
                      password="!") for i in range(n_users)], batch_size=BATCH)
            tags = Tag.objects.db_manager(db).bulk_create([Tag(name=f"{w}-{i}") for i, w in enumerate(WORDS + WORDS)][:n_tags])
            root = Category.objects.db_manager(db).create(slug="all", name="Everything")
            categories = [root] + Category.objects.db_manager(db).bulk_create(
                [Category(slug=f"cat-{i}", name=text(2).title(), parent=root) for i in range(n_categories - 1)])
            products = Product.objects.db_manager(db).bulk_create(
                [Product(category=rnd.choice(categories), name=f"{text(3).title()} {i}",
                         price=Decimal(rnd.randrange(100, 100000)) / 100,
                         attributes={"colour": rnd.choice(WORDS), "size": rnd.randrange(1, 50), "fragile": rnd.random() < 0.3,
                                     "material": rnd.choice(WORDS), "origin": rnd.choice(WORDS),
                                     "weight": round(rnd.random() * 10, 3)})
                 for i in range(n_products)], batch_size=BATCH)
            for i in range(n_digital):
                DigitalProduct.objects.db_manager(db).create(
                    category=rnd.choice(categories), name=f"Download {i}", price=Decimal("9.99"),
                    download_url=f"https://example.com/files/{i}.zip")
            through = Product.tags.through
            through.objects.db_manager(db).bulk_create(
                [through(product_id=p.pk, tag_id=t.pk) for p in products for t in rnd.sample(tags, 2)], batch_size=BATCH)
            orders = Order.objects.db_manager(db).bulk_create(
                [Order(customer=rnd.choice(users), placed_at=now - timedelta(minutes=i)) for i in range(n_orders)],
                batch_size=BATCH)
            OrderLine.objects.db_manager(db).bulk_create(
                [OrderLine(order=rnd.choice(orders), product=rnd.choice(products), quantity=rnd.randrange(1, 9))
                 for _ in range(n_lines)], batch_size=BATCH)
            product_type = ContentType.objects.db_manager(db).get_for_model(Product)
            order_type = ContentType.objects.db_manager(db).get_for_model(Order)
            Note.objects.db_manager(db).bulk_create(
                [Note(content_type=product_type, object_id=rnd.choice(products).pk, text=text(24)) if i % 2 else
                 Note(content_type=order_type, object_id=rnd.choice(orders).pk, text=text(24)) for i in range(n_notes)],
                batch_size=BATCH)
        self.stdout.write(f"seeded about {objects} objects\n")
