"""The demo shop's products and a shopper's taste, so baskets have real co-purchase structure.

Each profile has a favourite category (its taste: the ``interest`` trait) and a companion
category (sports with electronics, beauty with fashion …). Most of its purchases come from its
taste, led by the category's first products; some from the companion; the rest from the shop's
best sellers. So products of one category, and of companion categories, are bought by the same
people far more often than chance: association rules find them, and recommendations have
something to say.
"""

import random

# category -> its products, best seller first
CATALOGUE = {
    "beauty": ["serum", "toner", "sunscreen", "lip-balm"],
    "sports": ["running-shoes", "yoga-mat", "protein-powder", "sports-socks"],
    "electronics": ["earbuds", "smart-watch", "power-bank", "phone-case"],
    "travel": ["suitcase", "neck-pillow", "travel-adapter", "packing-cubes"],
    "food": ["green-tea", "coffee-beans", "mooncakes", "snack-box"],
    "books": ["novel", "cookbook", "travel-guide", "notebook"],
    "home": ["aroma-diffuser", "bedding-set", "storage-box", "desk-lamp"],
    "fashion": ["silk-scarf", "tote-bag", "sneakers", "sunglasses"],
}
COMPANION = {
    "beauty": "fashion",
    "fashion": "beauty",
    "sports": "electronics",
    "electronics": "sports",
    "travel": "books",
    "books": "travel",
    "food": "home",
    "home": "food",
}
CATEGORIES = list(CATALOGUE)
_RANK_WEIGHTS = [8, 4, 2, 1]
_BEST_SELLERS = [(cat, CATALOGUE[cat][0]) for cat in CATEGORIES]


def product_id(category: str, product: str) -> str:
    """Return the product id stored in ``properties.product`` (e.g. ``beauty-serum``)."""
    return f"{category}-{product}"


def purchase_pick(rng: random.Random, taste: int) -> tuple[str, str]:
    """Return (category, product id) of one purchase by a shopper whose taste is CATEGORIES[taste].

    The taste is the profile's ``interest`` trait.
    """
    roll = rng.random()
    if roll < 0.65:
        category = CATEGORIES[taste]
    elif roll < 0.85:
        category = COMPANION[CATEGORIES[taste]]
    else:
        category, name = rng.choice(_BEST_SELLERS)
        return category, product_id(category, name)
    name = rng.choices(CATALOGUE[category], weights=_RANK_WEIGHTS)[0]
    return category, product_id(category, name)
