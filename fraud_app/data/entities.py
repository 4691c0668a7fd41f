"""Cards and merchants of the synthetic world, as pure functions of an entity index.

No entity table is materialised or joined: a card's home country, spending scale,
favourite MCC/channel and device are hashes of (seed, card index), and a merchant's
MCC, channel and country are encoded in its index:
    merchant = mcc + N_MCC * (channel + N_CHANNEL * (country + N_COUNTRY * j))
so "a POS grocery shop in SG" is picked by choosing only `j`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_app.data.random_exprs import choice, hash_sql, normal, pick, randint, uniform

COUNTRIES: tuple[str, ...] = ("CN", "HK", "SG", "JP", "US", "GB", "DE", "FR", "TH", "AU")
HOME_COUNTRY_WEIGHTS: tuple[float, ...] = (55, 8, 6, 5, 8, 5, 4, 3, 3, 3)

CHANNELS: tuple[str, ...] = ("POS", "ECOM", "ATM")
POS, ECOM, ATM = 0, 1, 2
CHANNEL_WEIGHTS: tuple[float, ...] = (62, 30, 8)

# (code, description, weight among everyday purchases, amount multiplier)
MCC_TABLE: tuple[tuple[str, str, float, float], ...] = (
    ("5411", "grocery", 25, 0.8),
    ("5812", "restaurants", 20, 0.7),
    ("5541", "fuel", 10, 1.0),
    ("5311", "department stores", 10, 1.5),
    ("5999", "misc retail / digital goods", 10, 1.0),
    ("4111", "transport", 8, 0.3),
    ("5732", "electronics", 5, 4.0),
    ("5944", "jewelry", 2, 6.0),
    ("7011", "hotels", 5, 5.0),
    ("6011", "ATM cash", 0, 2.5),  # reached only through the ATM channel
)
MCCS: tuple[str, ...] = tuple(m[0] for m in MCC_TABLE)
MCC_WEIGHTS: tuple[float, ...] = tuple(m[2] for m in MCC_TABLE)
MCC_LOG_MULT: tuple[float, ...] = tuple(math.log(m[3]) for m in MCC_TABLE)
MCC_INDEX: dict[str, int] = {code: i for i, code in enumerate(MCCS)}
ATM_MCC = MCC_INDEX["6011"]
N_MCC, N_CHANNEL, N_COUNTRY = len(MCCS), len(CHANNELS), len(COUNTRIES)

# Hour-of-day (UTC) and day-of-week (Mon..Sun) shapes of normal spending.
HOUR_WEIGHTS: tuple[float, ...] = (
    0.5, 0.3, 0.2, 0.2, 0.2, 0.4, 1.0, 2.0, 3.5, 4.0, 4.5, 5.0,
    6.0, 5.5, 4.5, 4.5, 5.0, 5.5, 6.5, 7.0, 6.5, 5.0, 3.0, 1.5,
)  # fmt: skip
DOW_WEIGHTS: tuple[float, ...] = (0.95, 0.95, 1.0, 1.0, 1.15, 1.25, 1.05)


@dataclass(frozen=True)
class World:
    """Sizes and seed every pattern needs; built once from GenerateSection."""

    seed: int
    n_cards: int
    merchants_per_cell: int  # j ranges over [0, merchants_per_cell)
    days: int
    start_weekday: int  # 0 = Monday
    cross_border_rate: float

    @property
    def period_s(self) -> int:
        return self.days * 86_400


def merchants_per_cell(n_merchants: int) -> int:
    return max(1, round(n_merchants / (N_MCC * N_CHANNEL * N_COUNTRY)))


# ---- cards -----------------------------------------------------------------------------


def card_home(w: World, card: str) -> Column:
    return choice(uniform(w.seed, "card.country", card), HOME_COUNTRY_WEIGHTS)


def card_log_scale(w: World, card: str) -> Column:
    """log of the card's typical amount (median ~35, varies ~2x between cards)."""
    return F.lit(math.log(35.0)) + F.lit(0.6) * normal(w.seed, "card.scale", card)


def card_mcc(w: World, card: str) -> Column:
    return choice(uniform(w.seed, "card.mcc", card), MCC_WEIGHTS)


def card_channel(w: World, card: str) -> Column:
    return choice(uniform(w.seed, "card.channel", card), (75, 25, 0))


def device(w: World, salt: str, *keys: str) -> Column:
    """A device id hashed from (seed, salt, keys): stable per entity, unlike any other salt."""
    return F.expr(f"concat('d', lower(hex({hash_sql(w.seed, salt, *keys)})))")


def card_device(w: World, card: str) -> Column:
    return device(w, "card.device", card)


def card_id(card: Column) -> Column:
    return zero_padded("62", card, 14)


# ---- places and merchants -------------------------------------------------------------


def other_country(home: Column, u: Column) -> Column:
    """A country different from `home`, uniformly among the others."""
    step = F.floor(u * F.lit(float(N_COUNTRY - 1))).cast("int") + F.lit(1)
    return F.pmod(home + step, F.lit(N_COUNTRY))


def merchant_index(mcc: Column, channel: Column, country: Column, j: Column) -> Column:
    cell = mcc + F.lit(N_MCC) * (channel + F.lit(N_CHANNEL) * country)
    return cell.cast("long") + F.lit(N_MCC * N_CHANNEL * N_COUNTRY).cast("long") * j


def merchant_id(index: Column) -> Column:
    return zero_padded("M", index, 8)


def zero_padded(prefix: str, number: Column, width: int) -> Column:
    """`prefix` + the integer `number` zero-padded to `width` digits: the text of
    `format_string(prefix + "%0<width>d", number)` (Java's String.format on every row), as
    lpad of the decimal text, which costs less: with the transaction id's the same way,
    ~10 % of the generation's CPU at 200k rows, the same files (docs/BENCHMARKS.md, session
    26). Numbers outside [0, 10**width) keep format_string, which neither pads nor cuts
    them as lpad would."""
    fits = (number >= F.lit(0)) & (number < F.lit(10**width))
    padded = F.lpad(number.cast("string"), width, "0")
    fallback = F.format_string(f"%0{width}d", number)
    return F.concat(F.lit(prefix), F.when(fits, padded).otherwise(fallback))


def amount(log_median: Column, sigma: float, z: Column) -> Column:
    """Log-normal amount rounded to cents, at least 0.50."""
    return F.greatest(F.round(F.exp(log_median + F.lit(sigma) * z), 2), F.lit(0.5))


def mcc_log_mult(mcc: Column) -> Column:
    return pick(mcc, MCC_LOG_MULT)


# ---- time ------------------------------------------------------------------------------


def seasonal_seconds(w: World, salt: str, key: str) -> Column:
    """Seconds since the start, with weekly and daily seasonality of normal spending."""
    weeks = -(-w.days // 7)
    dow_weights = [DOW_WEIGHTS[(w.start_weekday + k) % 7] for k in range(7)]
    day = randint(w.seed, salt + ".week", weeks, key) * 7 + choice(
        uniform(w.seed, salt + ".dow", key), dow_weights
    )
    # the last, partial week: fold back one week (keeps the weekday) or into the period
    fold = day - 7 if w.days >= 7 else F.pmod(day, F.lit(w.days))
    day = F.when(day >= w.days, fold).otherwise(day)
    hour = choice(uniform(w.seed, salt + ".hour", key), HOUR_WEIGHTS)
    within = F.floor(uniform(w.seed, salt + ".sec", key) * 3600)
    return (day * 86_400 + hour * 3600 + within).cast("long")


def clamp_seconds(w: World, t: Column) -> Column:
    return F.least(F.greatest(t.cast("long"), F.lit(0)), F.lit(w.period_s - 1))


def country_code(index: Column) -> Column:
    return pick(index, COUNTRIES)
