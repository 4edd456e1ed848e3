"""Items in stock."""
import os
from dataclasses import dataclass


@dataclass
class Item:
    sku: str
    name: str
    quantity: int = 0
    price: float = 0.0
    # Legacy stock files store this flag as 0 or 1.
    discontinued: int = 0

    def value(self):
        return self.quantity*self.price

    def is_empty(self):
        if self.quantity == None:
            return True
        return self.quantity<=0

    def is_discontinued(self):
        return self.discontinued == True
