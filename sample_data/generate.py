"""Build the bundled sample database: a small credit-card transactions warehouse in DuckDB.

The data is synthetic and fully determined by the seed: the same seed gives the same rows on
every machine and Python version, because only integer draws and plain float arithmetic
(``+ - * /``, which IEEE 754 rounds identically everywhere) are used, never ``exp``/``log``
whose last bit may differ between C libraries, and no set is ever iterated (string hashing is
randomised per process).

Usage::

    python sample_data/generate.py                 # writes sample_data/cards.duckdb if missing
    python sample_data/generate.py --force         # rebuild it
    python sample_data/generate.py --out /tmp/x.duckdb --seed 7 --scale 0.1

The file is written under a temporary name and renamed into place at the end, so an interrupted
build never leaves a half-built database behind.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from random import Random
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "cards.duckdb"
QUESTIONS_FILE = HERE / "questions.yaml"
DEFAULT_SEED = 2025

# Transactions cover 2025-01-01 .. 2026-06-30 inclusive.
START = dt.date(2025, 1, 1)
END = dt.date(2026, 6, 30)
EPOCH = dt.date(1970, 1, 1)
N_DAYS = (END - START).days + 1

N_CUSTOMERS = 5_000
N_EXTRA_CARDS = 3_000  # on top of one card per customer
N_TRANSACTIONS = 300_000

# --------------------------------------------------------------------------- reference data

# (city, state, customer weight, merchant count). Phoenix deliberately has exactly nine
# merchants, all listed in PHOENIX_MERCHANTS; the other counts are only targets.
CITIES: tuple[tuple[str, str, int, int], ...] = (
    ("New York", "NY", 16, 38),
    ("Los Angeles", "CA", 13, 36),
    ("Chicago", "IL", 10, 32),
    ("Houston", "TX", 9, 30),
    ("Phoenix", "AZ", 8, 9),
    ("Philadelphia", "PA", 6, 26),
    ("San Antonio", "TX", 6, 24),
    ("San Diego", "CA", 6, 26),
    ("Dallas", "TX", 6, 28),
    ("Austin", "TX", 5, 26),
    ("Jacksonville", "FL", 4, 20),
    ("Columbus", "OH", 4, 20),
    ("Charlotte", "NC", 4, 22),
    ("Indianapolis", "IN", 4, 18),
    ("San Francisco", "CA", 4, 28),
    ("Seattle", "WA", 4, 28),
    ("Denver", "CO", 4, 26),
    ("Boston", "MA", 4, 26),
    ("Nashville", "TN", 3, 22),
    ("Portland", "OR", 3, 22),
    ("Las Vegas", "NV", 3, 24),
    ("Atlanta", "GA", 3, 26),
    ("Miami", "FL", 3, 26),
    ("Tucson", "AZ", 3, 18),
    ("Minneapolis", "MN", 3, 22),
)

CATEGORIES: tuple[str, ...] = (
    "grocery",
    "restaurant",
    "coffee_shop",
    "fuel",
    "pharmacy",
    "clothing",
    "electronics",
    "entertainment",
    "home_improvement",
    "travel",
)

# Share of local merchants per category, and how often a merchant of the category is used.
CATEGORY_MIX = {
    "grocery": 14,
    "restaurant": 26,
    "coffee_shop": 10,
    "fuel": 8,
    "pharmacy": 6,
    "clothing": 10,
    "electronics": 5,
    "entertainment": 8,
    "home_improvement": 5,
    "travel": 8,
}
CATEGORY_FREQUENCY = {
    "grocery": 2.2,
    "restaurant": 1.2,
    "coffee_shop": 1.6,
    "fuel": 1.9,
    "pharmacy": 1.0,
    "clothing": 0.8,
    "electronics": 0.6,
    "entertainment": 0.8,
    "home_improvement": 0.7,
    "travel": 0.7,
}

# Chains: (name, category, chance of a location in a given city).
CHAINS: tuple[tuple[str, str, float], ...] = (
    ("FreshMart", "grocery", 0.55),
    ("Green Basket Market", "grocery", 0.35),
    ("Harvest Foods", "grocery", 0.30),
    ("Burger Barn", "restaurant", 0.50),
    ("Taco Fiesta", "restaurant", 0.40),
    ("Golden Wok Express", "restaurant", 0.30),
    ("Bean There Coffee", "coffee_shop", 0.55),
    ("Morning Grind", "coffee_shop", 0.35),
    ("QuickFuel", "fuel", 0.60),
    ("Roadway Gas", "fuel", 0.40),
    ("PetroPoint", "fuel", 0.30),
    ("CarePlus Pharmacy", "pharmacy", 0.55),
    ("WellRx Drugstore", "pharmacy", 0.35),
    ("Urban Threads", "clothing", 0.40),
    ("Denim & Co.", "clothing", 0.30),
    ("TechHub", "electronics", 0.45),
    ("Circuit Central", "electronics", 0.30),
    ("StarLight Cinemas", "entertainment", 0.45),
    ("Pin Palace Bowling", "entertainment", 0.25),
    ("BuildRight Supply", "home_improvement", 0.45),
    ("Hammer & Nail Hardware", "home_improvement", 0.30),
    ("SkyWay Airlines", "travel", 0.50),
    ("BlueJet Air", "travel", 0.35),
    ("Comfort Stay Inns", "travel", 0.40),
    ("RoadRunner Car Rental", "travel", 0.30),
)

PHOENIX_MERCHANTS: tuple[tuple[str, str], ...] = (
    ("Camelback Coffee Roasters", "coffee_shop"),
    ("Sonoran Grill", "restaurant"),
    ("Desert Bloom Pharmacy", "pharmacy"),
    ("Valley Fresh Market", "grocery"),
    ("QuickFuel", "fuel"),
    ("Saguaro Electronics", "electronics"),
    ("Roosevelt Row Outfitters", "clothing"),
    ("Sky Harbor Travel Co.", "travel"),
    ("StarLight Cinemas", "entertainment"),
)

# Words for local (non-chain) merchant names.
NAME_WORDS: tuple[str, ...] = (
    "Oak", "Maple", "Harbor", "Copper", "Lantern", "Juniper", "Cedar", "Riverside", "Summit",
    "Willow", "Granite", "Bluebird", "Magnolia", "Aspen", "Redwood", "Sunset", "Northside",
    "Old Town", "Union", "Liberty", "Elm Street", "Parkside", "Lakeshore", "Hillcrest", "Ironwood",
    "Silver", "Blue Door", "Corner", "Main Street", "Midtown", "Westgate", "Sparrow", "Fox",
    "Orchard", "Beacon", "Pioneer", "Crescent", "Meadow", "Canyon", "Driftwood",
)  # fmt: skip
NAME_PATTERNS: dict[str, tuple[str, ...]] = {
    "grocery": ("{w} Market", "{w} Grocers", "{w} Food Co-op", "{w} Farm Market"),
    "restaurant": (
        "{w} Bistro",
        "{w} Grill",
        "{w} Kitchen",
        "{w} Diner",
        "{w} Taqueria",
        "{w} Noodle House",
        "{w} Steakhouse",
        "{w} Pizzeria",
        "{w} Sushi Bar",
        "{w} BBQ",
        "{w} Tavern",
        "{w} Cafe",
    ),
    "coffee_shop": ("{w} Coffee", "{w} Espresso Bar", "{w} Roasters", "{w} Tea & Coffee"),
    "fuel": ("{w} Gas & Go", "{w} Fuel Stop"),
    "pharmacy": ("{w} Pharmacy", "{w} Apothecary"),
    "clothing": ("{w} Boutique", "{w} Outfitters", "{w} Apparel", "{w} Shoe Co."),
    "electronics": ("{w} Electronics", "{w} Computer Store", "{w} Mobile"),
    "entertainment": ("{w} Theater", "{w} Arcade", "{w} Music Hall", "{w} Escape Rooms"),
    "home_improvement": ("{w} Hardware", "{w} Home & Garden", "{w} Lumber"),
    "travel": ("{w} Travel Agency", "{w} Hotel", "{w} Inn"),
}

FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley",
    "Jose", "Maria", "Wei", "Mei", "Raj", "Priya", "Ahmed", "Fatima", "Kenji", "Yuki", "Luis",
    "Sofia", "Andre", "Aisha", "Olga", "Ivan", "Noah", "Emma", "Liam", "Olivia", "Ethan", "Ava",
    "Lucas", "Mia", "Mateo", "Isabella", "Diego", "Camila", "Omar", "Layla", "Hannah", "Tyler",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Chen", "Patel", "Kim", "Singh",
    "Tanaka", "Cohen", "Murphy", "O'Brien", "Kowalski", "Novak",
)  # fmt: skip
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.net", "example.org", "mail.example")

CARD_TYPES = (("visa", 45), ("mastercard", 30), ("amex", 15), ("discover", 10))
CARD_TIERS = ("standard", "gold", "platinum")
STATUSES = ("approved", "declined", "refunded")
CHANNELS = ("in_store", "online", "contactless")

# Median ticket in cents, floor and ceiling in cents, and which spread table to use.
AMOUNTS: dict[str, tuple[int, int, int, bool]] = {
    "grocery": (6_200, 300, 60_000, False),
    "restaurant": (3_800, 600, 40_000, False),
    "coffee_shop": (750, 250, 6_000, False),
    "fuel": (4_800, 1_000, 14_000, False),
    "pharmacy": (2_400, 400, 40_000, True),
    "clothing": (6_800, 1_200, 90_000, True),
    "electronics": (18_000, 1_500, 450_000, True),
    "entertainment": (3_200, 800, 50_000, False),
    "home_improvement": (8_500, 500, 300_000, True),
    "travel": (31_000, 4_000, 500_000, True),
}
# Quantiles of lognormal multipliers (sigma 0.5 and 0.85) at p = 0.002, 0.05, 0.10, ... 0.95,
# 0.998. Interpolating them turns one uniform draw into a skewed amount without exp/log.
NARROW_SPREAD = (0.237, 0.439, 0.527, 0.596, 0.657, 0.714, 0.769, 0.825, 0.881, 0.939, 1.0,
                 1.065, 1.135, 1.212, 1.3, 1.401, 1.523, 1.679, 1.898, 2.276, 4.217)  # fmt: skip
WIDE_SPREAD = (0.087, 0.247, 0.336, 0.414, 0.489, 0.564, 0.64, 0.721, 0.806, 0.899, 1.0,
               1.113, 1.24, 1.388, 1.562, 1.774, 2.045, 2.413, 2.972, 4.048, 11.547)  # fmt: skip

# Month factors (Jan..Dec) per category on top of a common shape; holiday shopping and summer
# travel make the monthly time series interesting.
COMMON_MONTHS = (0.92, 0.88, 0.97, 0.98, 1.0, 1.0, 1.02, 1.02, 0.97, 1.0, 1.08, 1.22)
CATEGORY_MONTHS: dict[str, tuple[float, ...]] = {
    "grocery": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.12, 1.15),
    "clothing": (0.85, 0.8, 0.95, 1.0, 1.0, 0.95, 1.0, 1.2, 1.05, 1.0, 1.35, 1.5),
    "electronics": (0.85, 0.75, 0.85, 0.9, 0.9, 0.9, 0.95, 1.1, 0.95, 0.95, 1.55, 1.75),
    "travel": (0.8, 0.85, 1.15, 1.0, 1.1, 1.4, 1.5, 1.3, 0.9, 0.95, 1.05, 1.3),
    "fuel": (0.95, 0.95, 1.0, 1.0, 1.05, 1.1, 1.12, 1.1, 1.0, 1.0, 1.0, 1.0),
    "entertainment": (0.9, 0.9, 1.0, 1.0, 1.05, 1.15, 1.2, 1.15, 0.95, 1.0, 1.0, 1.1),
    "home_improvement": (0.75, 0.8, 1.1, 1.35, 1.4, 1.25, 1.1, 1.0, 0.95, 0.95, 0.85, 0.75),
}
# Weekday factors (Monday..Sunday).
CATEGORY_WEEKDAYS: dict[str, tuple[float, ...]] = {
    "grocery": (0.9, 0.85, 0.9, 0.95, 1.05, 1.3, 1.2),
    "restaurant": (0.75, 0.8, 0.9, 1.0, 1.35, 1.45, 1.1),
    "coffee_shop": (1.1, 1.1, 1.1, 1.1, 1.05, 0.85, 0.75),
    "entertainment": (0.6, 0.6, 0.75, 0.9, 1.4, 1.7, 1.2),
    "home_improvement": (0.8, 0.8, 0.85, 0.9, 1.0, 1.5, 1.3),
}
FLAT_WEEK = (1.0, 1.0, 1.0, 1.0, 1.05, 1.1, 0.95)
# Single days that stand out (Black Friday, Cyber Monday, the days before Christmas...).
SPECIAL_DAYS: dict[dt.date, dict[str, float]] = {
    dt.date(2025, 11, 26): {"grocery": 1.8},
    dt.date(2025, 11, 27): {"*": 0.5, "grocery": 0.7, "restaurant": 0.9},
    dt.date(2025, 11, 28): {"*": 1.2, "electronics": 3.0, "clothing": 2.6},
    dt.date(2025, 12, 1): {"electronics": 2.2, "clothing": 1.6},
    dt.date(2025, 12, 23): {"*": 1.3, "grocery": 1.5},
    dt.date(2025, 12, 24): {"*": 1.2, "grocery": 1.7},
    dt.date(2025, 12, 25): {"*": 0.35, "travel": 0.8},
    dt.date(2026, 1, 1): {"*": 0.6},
}

# Hour-of-day weights (0..23) per category.
HOURS_RETAIL = (0, 0, 0, 0, 0, 0, 1, 2, 4, 6, 8, 9, 10, 10, 9, 9, 9, 10, 10, 9, 7, 4, 2, 1)
HOURS: dict[str, tuple[int, ...]] = {
    "coffee_shop": (0, 0, 0, 0, 0, 1, 6, 14, 16, 13, 9, 7, 6, 6, 6, 5, 4, 3, 2, 1, 1, 0, 0, 0),
    "restaurant": (1, 0, 0, 0, 0, 0, 1, 2, 3, 2, 3, 9, 14, 11, 4, 3, 4, 9, 15, 16, 12, 7, 4, 2),
    "fuel": (1, 1, 0, 0, 1, 3, 7, 10, 9, 6, 6, 6, 6, 6, 6, 8, 10, 11, 9, 6, 4, 3, 2, 1),
    "entertainment": (1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 5, 6, 7, 9, 12, 15, 15, 12, 8, 3),
    "travel": (2, 1, 1, 1, 1, 2, 4, 6, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 7, 5, 3),
}
CHANNEL_WEIGHTS: dict[str, tuple[int, int, int]] = {
    "grocery": (55, 10, 35),
    "restaurant": (55, 10, 35),
    "coffee_shop": (40, 5, 55),
    "fuel": (65, 0, 35),
    "pharmacy": (60, 10, 30),
    "clothing": (45, 35, 20),
    "electronics": (40, 45, 15),
    "entertainment": (45, 35, 20),
    "home_improvement": (60, 20, 20),
    "travel": (15, 75, 10),
}
REFUND_RATE = {"clothing": 0.045, "electronics": 0.035, "travel": 0.03}

# --------------------------------------------------------------------------- schema

SCHEMA = """
CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    first_name VARCHAR NOT NULL,
    last_name VARCHAR NOT NULL,
    email VARCHAR NOT NULL UNIQUE,
    city VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    signup_date DATE NOT NULL,
    segment VARCHAR NOT NULL CHECK (segment IN ('consumer', 'small_business'))
);
CREATE TABLE cards (
    card_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    card_type VARCHAR NOT NULL CHECK (card_type IN ('visa', 'mastercard', 'amex', 'discover')),
    card_tier VARCHAR NOT NULL CHECK (card_tier IN ('standard', 'gold', 'platinum')),
    credit_limit DECIMAL(12, 2) NOT NULL,
    opened_on DATE NOT NULL,
    is_active BOOLEAN NOT NULL
);
CREATE TABLE merchants (
    merchant_id INTEGER PRIMARY KEY,
    merchant_name VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    city VARCHAR NOT NULL,
    state VARCHAR NOT NULL
);
CREATE TABLE transactions (
    transaction_id BIGINT PRIMARY KEY,
    card_id INTEGER NOT NULL REFERENCES cards (card_id),
    merchant_id INTEGER NOT NULL REFERENCES merchants (merchant_id),
    transaction_ts TIMESTAMP NOT NULL,
    amount DECIMAL(10, 2) NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('approved', 'declined', 'refunded')),
    channel VARCHAR NOT NULL CHECK (channel IN ('in_store', 'online', 'contactless')),
    currency VARCHAR NOT NULL
);
"""

COMMENTS: dict[str, str] = {
    "customers": "Cardholders: one row per customer of the card issuer.",
    "customers.city": "Home city of the customer (not where they shop).",
    "customers.state": "Two-letter US state code of the home city.",
    "customers.signup_date": "Date the customer opened their account with the issuer.",
    "customers.segment": "Customer segment: 'consumer' (personal) or 'small_business'.",
    "cards": "Credit cards issued to customers; a customer can hold several cards.",
    "cards.card_type": "Card network: 'visa', 'mastercard', 'amex' or 'discover'.",
    "cards.card_tier": "Product tier: 'standard', 'gold' or 'platinum'.",
    "cards.credit_limit": "Credit limit of the card, in US dollars.",
    "cards.opened_on": "Date the card was issued.",
    "cards.is_active": "False once the card has been closed; closed cards keep their history.",
    "merchants": "Businesses where card transactions happen; chains appear once per city.",
    "merchants.merchant_name": (
        "Trading name. Chains share one name across cities, so count distinct names for "
        "unique merchants."
    ),
    "merchants.category": (
        "Merchant category: grocery, restaurant, coffee_shop, fuel, pharmacy, clothing, "
        "electronics, entertainment, home_improvement or travel."
    ),
    "merchants.city": "City of the merchant location.",
    "merchants.state": "Two-letter US state code of the merchant location.",
    "transactions": "Card transactions from 2025-01-01 to 2026-06-30, one row per purchase.",
    "transactions.transaction_ts": "Local date and time of the purchase (no time zone).",
    "transactions.amount": "Purchase amount in US dollars, always positive.",
    "transactions.status": (
        "'approved' = completed purchase counted as spend; 'declined' = authorization refused, "
        "no money moved; 'refunded' = approved purchase later refunded in full. Spend totals "
        "normally count only approved transactions."
    ),
    "transactions.channel": (
        "How the card was used: 'in_store' (chip or swipe), 'online' (card not present) or "
        "'contactless' (tap or mobile wallet)."
    ),
    "transactions.currency": "ISO 4217 currency code of amount; always 'USD' in this database.",
}

# --------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class SampleData:
    """The generated rows, column by column, ready to load."""

    customers: dict[str, list[Any]]
    cards: dict[str, list[Any]]
    merchants: dict[str, list[Any]]
    transactions: dict[str, list[Any]]


def _cum(weights: Sequence[float]) -> list[float]:
    return list(accumulate(weights))


def _pick(rng: Random, cum: list[float]) -> int:
    """Index drawn with the weights behind the cumulative list ``cum``."""
    return bisect_right(cum, rng.random() * cum[-1])


def _spread(u: float, table: tuple[float, ...]) -> float:
    pos = u * (len(table) - 1)
    i = int(pos)
    if i >= len(table) - 1:
        return table[-1]
    return table[i] + (table[i + 1] - table[i]) * (pos - i)


def _day(d: dt.date) -> int:
    """Days since 1970-01-01, the integer form of DATE."""
    return (d - EPOCH).days


def _merchants(rng: Random) -> dict[str, list[Any]]:
    names: list[str] = []
    categories: list[str] = []
    cities: list[str] = []
    states: list[str] = []
    used_local = {name for name, _ in PHOENIX_MERCHANTS} | {name for name, _, _ in CHAINS}
    mix_cum = _cum([CATEGORY_MIX[c] for c in CATEGORIES])

    def add(name: str, category: str, city: str, state: str) -> None:
        names.append(name)
        categories.append(category)
        cities.append(city)
        states.append(state)

    for city, state, _weight, count in CITIES:
        if city == "Phoenix":
            for name, category in PHOENIX_MERCHANTS:
                add(name, category, city, state)
            continue
        chains = [(n, c) for n, c, chance in CHAINS if rng.random() < chance]
        rng.shuffle(chains)
        chains = sorted(chains[: count * 2 // 3], key=lambda nc: CATEGORIES.index(nc[1]))
        for name, category in chains:
            add(name, category, city, state)
        for _ in range(count - len(chains)):
            category = CATEGORIES[_pick(rng, mix_cum)]
            while True:
                word = rng.choice(NAME_WORDS)
                name = rng.choice(NAME_PATTERNS[category]).format(w=word)
                if name not in used_local:
                    break
            used_local.add(name)
            add(name, category, city, state)
    return {"merchant_name": names, "category": categories, "city": cities, "state": states}


def _customers(rng: Random, n: int) -> dict[str, list[Any]]:
    city_cum = _cum([w for _, _, w, _ in CITIES])
    first_day, last_day = _day(dt.date(2016, 1, 1)), _day(dt.date(2026, 3, 31))
    emails_seen: dict[str, int] = {}
    cols: dict[str, list[Any]] = {
        k: [] for k in ("first_name", "last_name", "email", "city", "state", "signup_date")
    }
    cols["segment"] = []
    for _ in range(n):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, state, _, _ = CITIES[_pick(rng, city_cum)]
        local = f"{first}.{last}".lower().replace("'", "")
        seen = emails_seen.get(local, 0)
        emails_seen[local] = seen + 1
        suffix = str(seen) if seen else ""
        cols["first_name"].append(first)
        cols["last_name"].append(last)
        cols["email"].append(f"{local}{suffix}@{rng.choice(EMAIL_DOMAINS)}")
        cols["city"].append(city)
        cols["state"].append(state)
        cols["signup_date"].append(rng.randint(first_day, last_day))
        cols["segment"].append("small_business" if rng.random() < 0.15 else "consumer")
    return cols


@dataclass(frozen=True)
class _CardPlan:
    cols: dict[str, list[Any]]
    weights: list[float]  # relative number of transactions per card
    first_day: list[int]  # first day (epoch days) a card may transact in the window
    last_day: list[int]


def _cards(rng: Random, customers: dict[str, list[Any]], n_extra: int) -> _CardPlan:
    n_customers = len(customers["signup_date"])
    owners = list(range(n_customers)) + [rng.randrange(n_customers) for _ in range(n_extra)]
    owners.sort()
    type_cum = _cum([w for _, w in CARD_TYPES])
    latest_open = _day(dt.date(2026, 6, 20))
    start, end = _day(START), _day(END)
    cols: dict[str, list[Any]] = {
        k: []
        for k in ("customer_id", "card_type", "card_tier", "credit_limit", "opened_on", "is_active")
    }
    weights: list[float] = []
    first_days: list[int] = []
    last_days: list[int] = []
    previous_owner = -1
    for owner in owners:
        signup = customers["signup_date"][owner]
        business = customers["segment"][owner] == "small_business"
        if owner != previous_owner:  # first card: issued with the account
            opened = signup + rng.randrange(21)
        else:
            opened = rng.randint(signup, latest_open)
        previous_owner = owner
        u = rng.random()
        tier = 0 if u < (0.45 if business else 0.6) else 1 if u < (0.8 if business else 0.88) else 2
        low, high = ((10, 80), (50, 200), (150, 500))[tier]
        limit_cents = rng.randint(low, high) * 10_000  # whole hundreds of dollars
        closed = end
        earliest_close = max(opened + 60, _day(dt.date(2024, 7, 1)))
        active = rng.random() >= 0.07 or earliest_close > end - 14
        if not active:
            closed = rng.randint(earliest_close, end - 14)
        lo, hi = max(opened, start), min(closed, end)
        weight = 0.0
        if hi >= lo:
            activity = 0.3 + 2.2 * rng.random()
            weight = activity * (1.0, 1.3, 1.7)[tier] * (1.5 if business else 1.0)
            weight *= (hi - lo + 1) / N_DAYS
        cols["customer_id"].append(owner + 1)
        cols["card_type"].append(CARD_TYPES[_pick(rng, type_cum)][0])
        cols["card_tier"].append(CARD_TIERS[tier])
        cols["credit_limit"].append(limit_cents)
        cols["opened_on"].append(opened)
        cols["is_active"].append(active)
        weights.append(weight)
        first_days.append(lo)
        last_days.append(hi)
    return _CardPlan(cols, weights, first_days, last_days)


def _day_weights(category: str) -> list[float]:
    months = CATEGORY_MONTHS.get(category, (1.0,) * 12)
    week = CATEGORY_WEEKDAYS.get(category, FLAT_WEEK)
    out: list[float] = []
    for i in range(N_DAYS):
        d = START + dt.timedelta(days=i)
        w = COMMON_MONTHS[d.month - 1] * months[d.month - 1] * week[d.weekday()]
        w *= 1.0 + 0.15 * i / N_DAYS  # the issuer grows over time
        special = SPECIAL_DAYS.get(d)
        if special:
            w *= special.get(category, special.get("*", 1.0))
        out.append(w)
    return out


def _transactions(
    rng: Random,
    n: int,
    plan: _CardPlan,
    customers: dict[str, list[Any]],
    merchants: dict[str, list[Any]],
) -> dict[str, list[Any]]:
    city_index = {city: i for i, (city, _, _, _) in enumerate(CITIES)}
    cat_index = {c: i for i, c in enumerate(CATEGORIES)}
    m_cat = [cat_index[c] for c in merchants["category"]]
    # Merchant popularity: some locations are far busier than others.
    m_weight = [CATEGORY_FREQUENCY[c] * (0.3 + 1.7 * rng.random()) for c in merchants["category"]]
    by_city: list[list[int]] = [[] for _ in CITIES]
    for m, city in enumerate(merchants["city"]):
        by_city[city_index[city]].append(m)
    city_cum = [_cum([m_weight[m] for m in ms]) for ms in by_city]
    # Away from home people mostly travel, eat and refuel.
    away_boost = {"travel": 6.0, "restaurant": 1.5, "fuel": 1.3, "coffee_shop": 1.2}
    away_cum = _cum(
        [m_weight[m] * away_boost.get(c, 0.4) for m, c in enumerate(merchants["category"])]
    )
    day_cum = [_cum(_day_weights(c)) for c in CATEGORIES]
    hour_cum = [_cum(HOURS.get(c, HOURS_RETAIL)) for c in CATEGORIES]
    channel_cum = [_cum(CHANNEL_WEIGHTS[c]) for c in CATEGORIES]
    amounts = [AMOUNTS[c] for c in CATEGORIES]
    spreads = [WIDE_SPREAD if AMOUNTS[c][3] else NARROW_SPREAD for c in CATEGORIES]
    refund = [REFUND_RATE.get(c, 0.008) for c in CATEGORIES]

    card_home = [city_index[customers["city"][o - 1]] for o in plan.cols["customer_id"]]
    limits = plan.cols["credit_limit"]
    start = _day(START)
    cards = rng.choices(range(len(plan.weights)), cum_weights=_cum(plan.weights), k=n)
    rows: list[tuple[int, int, int, int, int, int]] = []
    random = rng.random
    randrange = rng.randrange
    for card in cards:
        if random() < 0.85:
            ms = by_city[card_home[card]]
            m = ms[
                bisect_right(city_cum[card_home[card]], random() * city_cum[card_home[card]][-1])
            ]
        else:
            m = bisect_right(away_cum, random() * away_cum[-1])
        c = m_cat[m]
        cum = day_cum[c]
        day = start + bisect_right(cum, random() * cum[-1])
        lo, hi = plan.first_day[card], plan.last_day[card]
        if day < lo or day > hi:
            day = lo + randrange(hi - lo + 1)
        cum = hour_cum[c]
        second = bisect_right(cum, random() * cum[-1]) * 3600 + randrange(3600)
        median, floor, ceiling, _ = amounts[c]
        cents = int(median * _spread(random(), spreads[c]))
        cents = min(max(cents, floor), ceiling)
        cum = channel_cum[c]
        channel = bisect_right(cum, random() * cum[-1])
        decline = 0.02 + (0.015 if channel == 1 else 0.0)
        if cents * 4 > limits[card]:  # large relative to the limit: often over the balance
            decline += 0.2
        u = random()
        status = 1 if u < decline else 2 if u < decline + refund[c] else 0
        ts = (day * 86_400 + second) * 1_000_000
        rows.append((ts, card + 1, m + 1, cents, status, channel))
    rows.sort()  # transaction ids follow time, like a real ledger
    ts_col, card_col, merchant_col, cents_col, status_col, channel_col = (
        list(col) for col in zip(*rows, strict=True)
    )
    return {
        "card_id": card_col,
        "merchant_id": merchant_col,
        "transaction_ts": ts_col,
        "amount": cents_col,
        "status": [STATUSES[s] for s in status_col],
        "channel": [CHANNELS[s] for s in channel_col],
    }


def generate(seed: int = DEFAULT_SEED, scale: float = 1.0) -> SampleData:
    """Generate all rows for ``seed``; ``scale`` shrinks customers, cards and transactions.

    Merchants are not scaled, so Phoenix always has its nine merchants.
    """
    rng = Random(seed)
    merchants = _merchants(rng)
    customers = _customers(rng, max(1, round(N_CUSTOMERS * scale)))
    plan = _cards(rng, customers, round(N_EXTRA_CARDS * scale))
    transactions = _transactions(
        rng, max(1, round(N_TRANSACTIONS * scale)), plan, customers, merchants
    )
    return SampleData(customers, plan.cols, merchants, transactions)


# --------------------------------------------------------------------------- writing


def _arrow_tables(data: SampleData) -> dict[str, Any]:
    import pyarrow as pa

    def with_ids(cols: dict[str, list[Any]], key: str, types: dict[str, Any]) -> Any:
        n = len(next(iter(cols.values())))
        arrays = {key: pa.array(range(1, n + 1), pa.int64())}
        for name, values in cols.items():
            arrays[name] = pa.array(values, types.get(name, pa.string()))
        return pa.table(arrays)

    return {
        "customers": with_ids(data.customers, "customer_id", {"signup_date": pa.date32()}),
        "cards": with_ids(
            data.cards,
            "card_id",
            {
                "customer_id": pa.int32(),
                "credit_limit": pa.int64(),
                "opened_on": pa.date32(),
                "is_active": pa.bool_(),
            },
        ),
        "merchants": with_ids(data.merchants, "merchant_id", {}),
        "transactions": with_ids(
            data.transactions,
            "transaction_id",
            {
                "card_id": pa.int32(),
                "merchant_id": pa.int32(),
                "transaction_ts": pa.timestamp("us"),
                "amount": pa.int64(),
            },
        ),
    }


# Money travels as integer cents and becomes DECIMAL in SQL, exactly.
LOAD_SQL = {
    "customers": "INSERT INTO customers SELECT * FROM src",
    "cards": (
        "INSERT INTO cards SELECT card_id, customer_id, card_type, card_tier, "
        "CAST(CAST(credit_limit AS DECIMAL(18, 0)) / 100 AS DECIMAL(12, 2)), opened_on, "
        "is_active FROM src"
    ),
    "merchants": "INSERT INTO merchants SELECT * FROM src",
    "transactions": (
        "INSERT INTO transactions SELECT transaction_id, card_id, merchant_id, transaction_ts, "
        "CAST(CAST(amount AS DECIMAL(18, 0)) / 100 AS DECIMAL(10, 2)), status, channel, 'USD' "
        "FROM src"
    ),
}


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def build_database(
    out: Path | str = DEFAULT_OUT,
    *,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    on_progress: Callable[[str], None] | None = None,
) -> Path:
    """Write the sample database to ``out`` (replacing it) and return its path.

    The database is built in a temporary file next to ``out`` and renamed into place only when
    complete. ``on_progress`` is called with each table name once that table is loaded; if it
    raises, the build stops and leaves nothing behind.

        >>> build_database("/tmp/cards.duckdb", seed=1, scale=0.01)  # doctest: +SKIP
    """
    import duckdb

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Unique per build so concurrent builds never share a file; named like the database so
    # the ignore rules that cover the database cover a leftover from a killed build too.
    tmp = out.with_name(f".{out.stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{out.suffix}")
    _remove(tmp)
    try:
        tables = _arrow_tables(generate(seed, scale))
        con = duckdb.connect(str(tmp))
        try:
            con.execute(SCHEMA)
            for name in ("customers", "cards", "merchants", "transactions"):
                con.register("src", tables[name])
                con.execute(LOAD_SQL[name])
                con.unregister("src")
                if on_progress is not None:
                    on_progress(name)
            for target, text in COMMENTS.items():
                kind = "COLUMN" if "." in target else "TABLE"
                con.execute(f"COMMENT ON {kind} {target} IS {_sql_string(text)}")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, out)
    except BaseException:
        _remove(tmp)
        raise
    return out


# --------------------------------------------------------------------------- expected answers


def refresh_expected(db: Path, questions: Path = QUESTIONS_FILE) -> int:
    """Rerun every question's SQL on ``db`` and rewrite its expected rows in ``questions``.

    For maintainers after a change to the generator; returns the number of questions.
    """
    import duckdb
    import yaml

    from sqlagent.types import to_json_value

    items = yaml.safe_load(questions.read_text(encoding="utf-8"))
    con = duckdb.connect(str(db), read_only=True)
    try:
        for item in items:
            cur = con.execute(item["sql"])
            columns = [d[0] for d in cur.description]
            rows = [[to_json_value(v) for v in row] for row in cur.fetchall()]
            item["expected"] = {"columns": columns, "rows": rows}
    finally:
        con.close()

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
        flow = all(not isinstance(v, (list, dict)) for v in value)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)

    _Dumper.add_representer(str, _str)
    _Dumper.add_representer(list, _list)
    header = "".join(
        line + "\n"
        for line in questions.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    )
    body = "\n".join(
        yaml.dump([item], Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        for item in items
    )
    questions.write_text(header + "\n" + body, encoding="utf-8")
    return len(items)


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description="Build the sample credit-card DuckDB database.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="database file to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="shrink customers, cards and transactions"
    )
    parser.add_argument(
        "--refresh-expected",
        action="store_true",
        help="after building, rewrite the expected answers in questions.yaml from this database",
    )
    args = parser.parse_args(argv)
    if args.out.exists() and not args.force:
        print(f"{args.out} already exists; use --force to rebuild it.")
    else:
        began = time.perf_counter()
        build_database(args.out, seed=args.seed, scale=args.scale)
        print(f"Wrote {args.out} in {time.perf_counter() - began:.1f} s.")
    if args.refresh_expected:
        if args.seed != DEFAULT_SEED or args.scale != 1.0:
            parser.error("expected answers are defined for the default seed and scale only")
        count = refresh_expected(args.out)
        print(f"Refreshed the expected answers of {count} questions in {QUESTIONS_FILE}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
