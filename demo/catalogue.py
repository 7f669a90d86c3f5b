"""The demo catalogue: 40 products in six categories, about 120 variants."""

COLOURS = ["Sage", "Oat", "Charcoal"]
SIZES = ["S", "M", "L"]

# (category, name, price in pennies, options, description)
# options: "colour" → three colours, "size" → three sizes, "both" → 2 colours x 3 sizes,
# "single" → one variant.
PRODUCTS = [
    (
        "Kitchen",
        "Stoneware Mug",
        1400,
        "colour",
        "Hand-glazed 350 ml mug, dishwasher safe.",
    ),
    (
        "Kitchen",
        "Linen Tea Towel",
        1200,
        "colour",
        "Stonewashed European linen, 50 × 70 cm.",
    ),
    (
        "Kitchen",
        "Oak Chopping Board",
        3800,
        "size",
        "Solid oak, oiled, with a juice groove.",
    ),
    (
        "Kitchen",
        "Enamel Saucepan",
        4600,
        "colour",
        "1.5 litre enamelled steel, all hobs.",
    ),
    ("Kitchen", "Ceramic Dinner Plate", 1800, "colour", "Reactive glaze, 27 cm."),
    (
        "Kitchen",
        "Copper Measuring Spoons",
        2200,
        "single",
        "Set of four, solid copper.",
    ),
    ("Kitchen", "Glass Storage Jar", 900, "size", "Borosilicate with a beech lid."),
    ("Home", "Wool Throw", 8900, "both", "Lambswool, woven in Wales, 130 × 180 cm."),
    (
        "Home",
        "Linen Cushion Cover",
        3200,
        "colour",
        "Washed linen with a hidden zip, 45 cm.",
    ),
    ("Home", "Beeswax Candle", 1600, "size", "Pure beeswax, cotton wick."),
    ("Home", "Rattan Basket", 2800, "size", "Hand-woven rattan with handles."),
    ("Home", "Ceramic Vase", 3400, "colour", "Speckled stoneware, 22 cm."),
    ("Home", "Merino Slippers", 4200, "both", "Felted merino with a suede sole."),
    ("Home", "Brass Picture Frame", 2600, "size", "Solid brass, glass front."),
    (
        "Outdoor",
        "Waxed Cotton Jacket",
        14900,
        "both",
        "Waxed cotton with a cord collar.",
    ),
    (
        "Outdoor",
        "Insulated Flask",
        2900,
        "colour",
        "Keeps drinks hot for 12 hours, 500 ml.",
    ),
    (
        "Outdoor",
        "Canvas Backpack",
        7800,
        "both",
        "Waxed canvas, leather straps, 20 litres.",
    ),
    ("Outdoor", "Picnic Blanket", 5400, "colour", "Waterproof backing, 150 × 200 cm."),
    ("Outdoor", "Enamel Camping Mug", 1100, "colour", "Classic enamel, 300 ml."),
    ("Outdoor", "Merino Beanie", 2800, "colour", "Ribbed merino wool."),
    ("Outdoor", "Walking Socks", 1500, "both", "Merino blend, cushioned sole."),
    (
        "Stationery",
        "Dot Grid Notebook",
        1800,
        "colour",
        "A5, 192 pages, lay-flat binding.",
    ),
    ("Stationery", "Brass Fountain Pen", 6500, "single", "Solid brass, steel nib."),
    ("Stationery", "Recycled Envelopes", 700, "single", "Pack of 25, C6."),
    ("Stationery", "Desk Planner", 2200, "single", "Undated weekly planner."),
    ("Stationery", "Pencil Set", 1200, "single", "Twelve cedar pencils, HB to 6B."),
    ("Stationery", "Leather Card Holder", 3500, "colour", "Vegetable-tanned leather."),
    ("Bath", "Cotton Bath Towel", 2800, "both", "700 gsm Turkish cotton."),
    ("Bath", "Olive Oil Soap", 600, "single", "Cold-pressed, unscented."),
    ("Bath", "Linen Bath Robe", 9800, "size", "Stonewashed linen, one pocket."),
    ("Bath", "Bamboo Toothbrush", 400, "colour", "Plant-based bristles."),
    ("Bath", "Ceramic Soap Dish", 1400, "colour", "Draining soap dish."),
    ("Bath", "Bath Salts", 1600, "size", "Magnesium flakes with lavender."),
    ("Garden", "Terracotta Pot", 1900, "size", "Frost-resistant terracotta."),
    ("Garden", "Garden Gloves", 1700, "size", "Goatskin palms, cotton backs."),
    (
        "Garden",
        "Seed Collection",
        1300,
        "single",
        "Twelve heritage vegetable varieties.",
    ),
    ("Garden", "Ash Trowel", 2400, "single", "Stainless steel with an ash handle."),
    ("Garden", "Watering Can", 4400, "colour", "Galvanised steel, 7 litres."),
    ("Garden", "Cedar Planter", 7200, "size", "Western red cedar, lined."),
    ("Garden", "Bird Feeder", 2100, "single", "Copper roof, refillable."),
]
# Sold before stock arrives.
PREORDER = {"Waxed Cotton Jacket", "Brass Fountain Pen", "Cedar Planter"}
# Subscription products (one variant each, no stock): (category, name, price in
# pennies, billing interval, description).
SUBSCRIPTIONS = [
    (
        "Kitchen",
        "Coffee Club",
        1200,
        "month",
        "A 250 g bag of single-origin coffee each month, roasted to order.",
    ),
    (
        "Garden",
        "Seed of the Month",
        600,
        "month",
        "Three packets of seasonal seeds with a sowing card, every month.",
    ),
    (
        "Stationery",
        "Stationery Box",
        12000,
        "year",
        "A year of notebooks, pens and paper: four boxes, billed yearly.",
    ),
]
