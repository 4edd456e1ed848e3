import pytest

from inventory import Item, Store, load, save


def test_add_and_total_value():
    store = Store([Item("a1", "bolt", 10, 0.25)])
    store.add(Item("b2", "nut", 4, 0.5))
    assert store.total_value() == 4.5


def test_adding_a_duplicate_sku_is_refused():
    store = Store([Item("a1", "bolt")])
    with pytest.raises(ValueError):
        store.add(Item("a1", "other bolt"))


def test_restock_and_low_stock():
    store = Store([Item("a1", "bolt", 2), Item("b2", "nut", 50)])
    store.restock("a1", 1)
    assert [item.sku for item in store.low_stock()] == ["a1"]


def test_save_then_load_round_trips(tmp_path):
    store = Store([Item("a1", "bolt", 3, 1.5)])
    save(store, tmp_path / "stock.json")
    assert load(tmp_path / "stock.json").total_value() == 4.5
