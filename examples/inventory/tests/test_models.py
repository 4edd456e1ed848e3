from inventory import Item


def test_value_is_quantity_times_price():
    assert Item("a1", "bolt", quantity=4, price=0.5).value() == 2.0


def test_an_item_without_stock_is_empty():
    assert Item("a1", "bolt").is_empty()
    assert not Item("a1", "bolt", quantity=1).is_empty()


def test_legacy_integer_flags_read_as_booleans():
    assert Item("a1", "bolt", discontinued=1).is_discontinued() is True
    assert Item("a1", "bolt").is_discontinued() is False
