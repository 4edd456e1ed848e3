"""A tiny stock-keeping library."""
from .models import Item
from .store import Store, load, save
