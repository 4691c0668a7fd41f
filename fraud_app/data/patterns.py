"""Normal spending and the fraud scenarios, one class each.

A pattern turns a range of row numbers into transactions. Every pattern returns the
same internal columns (entity indexes, not yet strings); fraud_app.data.generator
turns them into the canonical/raw layout:

    i        global row number (-> transaction_id)
    card     card index                 mcc, channel, country   catalogue indexes
    mj       merchant number in its (mcc, channel, country) cell
    t        seconds since the start    amount, device, label, pattern

Fraud rows are grouped into *episodes* of `episode_size` consecutive rows that share
a card, a time window and (per pattern) a merchant or device, which is what gives
each scenario its signature:

- compromised_merchant: K cards visit one POS merchant within 2 days (normal rows);
  each is defrauded 1-21 days later elsewhere (often ECOM / abroad, larger amounts).
- stolen_card: a few large purchases within hours, high-risk MCCs, often abroad.
- card_testing: ~10 tiny ECOM payments within 10 minutes at one merchant, new device.
- account_takeover: a new device from a foreign country, ECOM, moderate-large amounts.
"""

from __future__ import annotations

import functools
import math
from typing import ClassVar

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_app.data import entities as E
from fraud_app.data.entities import World
from fraud_app.data.random_exprs import choice, normal, randint, uniform

OUTPUT_COLUMNS: tuple[str, ...] = (
    "i", "card", "mcc", "channel", "country", "mj", "t", "amount", "device", "label", "pattern",
)  # fmt: skip
HIGH_RISK_MCC_WEIGHTS = tuple(
    {"5732": 5.0, "5944": 3.0, "5311": 2.0}.get(code, 0.0) for code in E.MCCS
)


class Pattern:
    """One kind of traffic. `rows_per_fraud` > 1 when a scenario adds normal rows too."""

    name: ClassVar[str | None] = None
    episode_size: ClassVar[int] = 1
    rows_per_fraud: ClassVar[int] = 1

    def build(self, w: World, rows: DataFrame) -> DataFrame:
        """`rows` has `i` (global row number) and `j` (row number inside this segment)."""
        raise NotImplementedError

    def _salt(self, what: str) -> str:
        return f"{self.name}.{what}"

    def _episode(self, w: World, rows: DataFrame, span_s: float) -> DataFrame:
        """Columns shared by an episode: e, card, home, start time (span fits the period)."""
        e = F.floor(F.col("j") / self.episode_size).cast("long")
        latest = max(w.period_s - span_s, 1.0)
        return (
            rows.withColumn("e", e)
            .withColumns(
                {
                    "card": randint(w.seed, self._salt("card"), w.n_cards, "e"),
                    "t0": F.floor(uniform(w.seed, self._salt("t0"), "e") * latest),
                }
            )
            .withColumn("home", E.card_home(w, "card"))
        )

    def _u(self, w: World, what: str, *keys: str) -> Column:
        return uniform(w.seed, self._salt(what), *keys)


class NormalSpending(Pattern):
    name = None

    def build(self, w: World, rows: DataFrame) -> DataFrame:
        df = self._card_and_channel(w, rows)
        df = self._mcc_and_country(w, df)
        return self._purchase(w, df)

    @staticmethod
    def _card_and_channel(w: World, rows: DataFrame) -> DataFrame:
        """Who pays and how: the card (activity is skewed), its home, the channel (the
        card's favourite 70 % of the time)."""
        u = functools.partial(_normal_uniform, w)
        # activity is skewed: a few cards pay much more often than most
        return rows.withColumn(
            "card", F.floor(F.pow(u("card"), 1.5) * w.n_cards).cast("long")
        ).withColumns(
            {
                "home": E.card_home(w, "card"),
                "channel": F.when(u("ch.fav") < 0.7, E.card_channel(w, "card")).otherwise(
                    choice(u("ch"), E.CHANNEL_WEIGHTS)
                ),
            }
        )

    @staticmethod
    def _mcc_and_country(w: World, df: DataFrame) -> DataFrame:
        """Where: the merchant category (the card's favourite 55 % of the time, ATM for
        the ATM channel) and the country (abroad at the cross-border rate, x3 online)."""
        u = functools.partial(_normal_uniform, w)
        cross_p = F.least(
            F.lit(w.cross_border_rate) * F.when(F.col("channel") == E.ECOM, 3.0).otherwise(1.0),
            F.lit(1.0),
        )
        return df.withColumns(
            {
                "mcc": F.when(F.col("channel") == E.ATM, F.lit(E.ATM_MCC))
                .when(u("mcc.fav") < 0.55, E.card_mcc(w, "card"))
                .otherwise(choice(u("mcc"), E.MCC_WEIGHTS)),
                "country": F.when(
                    u("xb") < cross_p, E.other_country(F.col("home"), u("xb.where"))
                ).otherwise(F.col("home")),
            }
        )

    @staticmethod
    def _purchase(w: World, df: DataFrame) -> DataFrame:
        """What: the merchant, the time, the amount (the card's scale x the category's, x1.3
        abroad; ATM amounts in 50s), the device online, and the label 0."""
        s, i = w.seed, "i"
        u = functools.partial(_normal_uniform, w)
        favourite = randint(s, "normal.fav.j", w.merchants_per_cell, "card", "mcc")
        log_med = E.card_log_scale(w, "card") + E.mcc_log_mult(F.col("mcc"))
        log_med = log_med + F.when(F.col("country") != F.col("home"), math.log(1.3)).otherwise(0.0)
        amount = E.amount(log_med, 0.5, normal(s, "normal.amount", i))
        return df.withColumns(
            {
                "mj": F.when(u("mj.fav") < 0.5, favourite).otherwise(
                    randint(s, "normal.mj", w.merchants_per_cell, i)
                ),
                "t": E.seasonal_seconds(w, "normal.t", i),
                "amount": F.when(
                    F.col("channel") == E.ATM, F.greatest(F.round(amount / 50) * 50, F.lit(50.0))
                ).otherwise(amount),
                "device": F.when(
                    F.col("channel") == E.ECOM,
                    F.when(u("dev") < 0.93, E.card_device(w, "card")).otherwise(
                        E.device(w, "card.device2", "card")
                    ),
                ),
                "label": F.lit(0),
                "pattern": F.lit(None).cast("string"),
            }
        )


def _normal_uniform(w: World, what: str) -> Column:
    """The normal rows' uniform draw named `what`, per row (`i`)."""
    return uniform(w.seed, "normal." + what, "i")


class CompromisedMerchant(Pattern):
    """Pairs of rows: (visit to the breached merchant, later fraud) per compromised card."""

    name = "compromised_merchant"
    episode_size = 2 * 12  # 12 cards per breached merchant, 2 rows each
    rows_per_fraud = 2
    WINDOW_S = 2 * 86_400

    def build(self, w: World, rows: DataFrame) -> DataFrame:
        df = self._episode(w, rows, span_s=0.5 * w.period_s).withColumns(
            {
                "k": F.floor(F.pmod(F.col("j"), F.lit(self.episode_size)) / 2).cast("long"),
                "fraud": F.pmod(F.col("j"), F.lit(2)).cast("int"),
            }
        )
        # the card is per (breach, k); the same card makes the visit and suffers the fraud
        df = df.withColumn(
            "card", randint(w.seed, self._salt("card.k"), w.n_cards, "e", "k")
        ).withColumn("home", E.card_home(w, "card"))
        is_fraud = F.col("fraud") == 1
        ecom = self._u(w, "ch", "i") < 0.6
        channel = F.when(is_fraud & ecom, F.lit(E.ECOM)).otherwise(F.lit(E.POS))
        breach_country = choice(self._u(w, "shop.country", "e"), E.HOME_COUNTRY_WEIGHTS)
        fraud_country = F.when(
            self._u(w, "xb", "i") < 0.5, E.other_country(F.col("home"), self._u(w, "xb.w", "i"))
        ).otherwise(F.col("home"))
        visit_t = F.col("t0") + self._u(w, "visit.t", "i") * self.WINDOW_S
        later = F.col("t0") + self.WINDOW_S + (1 + self._u(w, "delay", "e", "k") * 20) * 86_400
        log_scale = E.card_log_scale(w, "card")
        return df.withColumns(
            {
                "channel": channel,
                "mcc": F.when(
                    is_fraud, choice(self._u(w, "mcc", "i"), HIGH_RISK_MCC_WEIGHTS)
                ).otherwise(choice(self._u(w, "shop.mcc", "e"), E.MCC_WEIGHTS)),
                "country": F.when(is_fraud, fraud_country).otherwise(breach_country),
                "mj": F.when(
                    is_fraud, randint(w.seed, self._salt("mj"), w.merchants_per_cell, "i")
                ).otherwise(randint(w.seed, self._salt("shop.mj"), w.merchants_per_cell, "e")),
                "t": E.clamp_seconds(w, F.when(is_fraud, later).otherwise(visit_t)),
                "amount": E.amount(
                    log_scale + F.when(is_fraud, math.log(4.0)).otherwise(0.0),
                    0.5,
                    normal(w.seed, self._salt("amount"), "i"),
                ),
                "device": F.when(channel == E.ECOM, E.device(w, self._salt("dev"), "e", "k")),
                "label": F.col("fraud"),
                "pattern": F.when(is_fraud, F.lit(self.name)),
            }
        )


class StolenCard(Pattern):
    name = "stolen_card"
    episode_size = 4
    SPAN_S = 6 * 3600

    def build(self, w: World, rows: DataFrame) -> DataFrame:
        df = self._episode(w, rows, span_s=self.SPAN_S)
        df = df.withColumn("channel", choice(self._u(w, "ch", "i"), (65, 20, 15)))  # POS, ECOM, ATM
        abroad = self._u(w, "abroad", "e") < 0.6
        log_med = E.card_log_scale(w, "card") + F.lit(math.log(8.0))
        amount = E.amount(log_med, 0.5, normal(w.seed, self._salt("amount"), "i"))
        return df.withColumns(
            {
                "mcc": F.when(F.col("channel") == E.ATM, F.lit(E.ATM_MCC)).otherwise(
                    choice(self._u(w, "mcc", "i"), HIGH_RISK_MCC_WEIGHTS)
                ),
                "country": F.when(
                    abroad, E.other_country(F.col("home"), self._u(w, "where", "e"))
                ).otherwise(F.col("home")),
                "mj": randint(w.seed, self._salt("mj"), w.merchants_per_cell, "i"),
                "t": E.clamp_seconds(w, F.col("t0") + self._u(w, "t", "i") * self.SPAN_S),
                "amount": F.when(
                    F.col("channel") == E.ATM, F.greatest(F.round(amount / 100) * 100, F.lit(100.0))
                ).otherwise(amount),
                "device": F.when(F.col("channel") == E.ECOM, E.device(w, self._salt("dev"), "e")),
                "label": F.lit(1),
                "pattern": F.lit(self.name),
            }
        )


class CardTesting(Pattern):
    name = "card_testing"
    episode_size = 10
    SPAN_S = 600

    def build(self, w: World, rows: DataFrame) -> DataFrame:
        df = self._episode(w, rows, span_s=self.SPAN_S)
        small = F.round(F.lit(0.5) + self._u(w, "amount", "i") * 2.5, 2)
        return df.withColumns(
            {
                "channel": F.when(self._u(w, "ch", "e") < 0.9, F.lit(E.ECOM)).otherwise(
                    F.lit(E.POS)
                ),
                "mcc": F.lit(E.MCC_INDEX["5999"]),
                "country": F.when(
                    self._u(w, "abroad", "e") < 0.7,
                    E.other_country(F.col("home"), self._u(w, "where", "e")),
                ).otherwise(F.col("home")),
                "mj": randint(w.seed, self._salt("mj"), w.merchants_per_cell, "e"),
                "t": E.clamp_seconds(w, F.col("t0") + self._u(w, "t", "i") * self.SPAN_S),
                "amount": F.when(self._u(w, "one", "i") < 0.2, F.lit(1.0)).otherwise(small),
                "device": E.device(w, self._salt("dev"), "e"),
                "label": F.lit(1),
                "pattern": F.lit(self.name),
            }
        ).withColumn("device", F.when(F.col("channel") == E.ECOM, F.col("device")))


class AccountTakeover(Pattern):
    name = "account_takeover"
    episode_size = 3
    SPAN_S = 12 * 3600

    def build(self, w: World, rows: DataFrame) -> DataFrame:
        df = self._episode(w, rows, span_s=self.SPAN_S)
        mcc_weights = tuple(
            {"5732": 5.0, "5999": 3.0, "7011": 2.0}.get(code, 0.0) for code in E.MCCS
        )
        log_med = E.card_log_scale(w, "card") + F.lit(math.log(3.0))
        return df.withColumns(
            {
                "channel": F.lit(E.ECOM),
                "mcc": choice(self._u(w, "mcc", "i"), mcc_weights),
                "country": E.other_country(F.col("home"), self._u(w, "where", "e")),
                "mj": randint(w.seed, self._salt("mj"), w.merchants_per_cell, "i"),
                "t": E.clamp_seconds(w, F.col("t0") + self._u(w, "t", "i") * self.SPAN_S),
                "amount": E.amount(log_med, 0.5, normal(w.seed, self._salt("amount"), "i")),
                "device": E.device(w, self._salt("dev"), "e"),
                "label": F.lit(1),
                "pattern": F.lit(self.name),
            }
        )


PATTERNS: dict[str, Pattern] = {
    p.name: p for p in (CompromisedMerchant(), StolenCard(), CardTesting(), AccountTakeover())
}
