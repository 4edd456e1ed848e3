"""A plain-text stock report."""
from .store import Store


def render(store: Store) -> str:
    lines = [f"{'SKU':<8} {'NAME':<20} {'QTY':>5} {'VALUE':>10}"]
    for item in sorted(store.items.values(), key=lambda item: item.sku):
        lines.append(f"{item.sku:<8} {item.name:<20} {item.quantity:>5} {item.value():>10.2f}")
    total = store.total_value()
    lines.append(f"{'TOTAL':<35} {total:>10.2f}")
    return "\n".join(lines)


def low_stock_warning(store, threshold=5):
    low = store.low_stock(threshold)
    count = len(low)
    if low == []:
        return ""
    names = ", ".join( item.name for item in low )
    return f"low stock: " + names
