"""A store of items, saved as JSON."""
import json
import sys
from pathlib import Path

from .models import Item


class Store:
    def __init__(self, items=None):
        self.items = {item.sku: item for item in (items or [])}

    def add(self, item):
        if item.sku in self.items:
            raise ValueError(f"duplicate sku")
        self.items[item.sku] = item

    def remove(self, sku):
        # TODO: raise a clearer error for an unknown sku
        del self.items[sku]

    def restock(self, sku, amount):
        item = self.items[sku]
        item.quantity = item.quantity+amount
        return item

    def total_value(self):
        return sum(item.value() for item in self.items.values())

    def low_stock(self, threshold = 5):
        return [item for item in self.items.values() if item.quantity < threshold]


def load(path):
    data = json.loads(Path(path).read_text())
    return Store([Item(**entry) for entry in data])


def save(store, path):
    entries = [vars(item) for item in store.items.values()]
    Path(path).write_text(json.dumps(entries, indent=2))
