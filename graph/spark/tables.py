"""The warehouse's aggregates as Spark DataFrames: call edges, monthly usage, behaviour.

Each function takes DataFrames of the staged tables (``cdrs``, ``subscriptions``,
``numbers``, ``data_usage``, with the columns and types of docs/warehouse.md) and returns
a DataFrame with exactly the columns and meaning of the DuckDB table of the same name
(``ingest/aggregate.py``, ``graph/behaviour.py``); ``tests/test_spark_engine.py`` checks
every row against DuckDB's on the synthetic operator. Integer counts are ``bigint``,
shares ``double``; the expressions guard every division themselves, so they mean the
same with Spark's ANSI mode on (Spark 4's default) or off.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from graph.behaviour import BEHAVIOUR_COLUMNS

CALL_EDGE_COLUMNS = ("month", "a", "b", "calls_ab", "calls_ba", "seconds_ab", "seconds_ba",
                     "sms_ab", "sms_ba", "night_calls", "roaming_calls", "first_contact",
                     "last_contact")
"""``call_edges``' columns, in the warehouse's order."""

USAGE_COLUMNS = ("msisdn", "month", "calls_out", "calls_in", "seconds_out", "seconds_in",
                 "sms_out", "sms_in", "contacts", "active_days", "night_calls",
                 "roaming_calls", "data_mb")
"""``usage_monthly``'s columns, in the warehouse's order."""


def month_of(column: str | Column) -> Column:
    """The first day of a date's or timestamp's month, as a DATE."""
    return F.trunc(F.to_date(F.col(column) if isinstance(column, str) else column), "month")


def night(start_time: Column) -> Column:
    """Night calls: 22:00 to 06:00 local time (``ingest.aggregate.NIGHT``)."""
    hour = F.hour(start_time)
    return (hour >= 22) | (hour < 6)


def day_bit(day: Column) -> Column:
    """Bit d-1 set for day d of the month: OR-ed, they count active days."""
    # 2^(d-1) in a double is exact for every day; shiftleft takes no column shift
    return F.pow(F.lit(2.0), F.dayofmonth(day) - 1).cast("bigint")


def count_where(condition: Column) -> Column:
    """SQL's ``count(*) FILTER (WHERE condition)``: NULL counts as false."""
    return F.sum(F.when(condition, 1).otherwise(0)).cast("bigint")


def sum_where(condition: Column, value: Column) -> Column:
    """``coalesce(sum(value) FILTER (WHERE condition), 0)`` as a bigint."""
    return F.coalesce(F.sum(F.when(condition, value)), F.lit(0)).cast("bigint")


def ratio(part: Column, whole: Column) -> Column:
    """``part / nullif(whole, 0)`` as a double: NULL over nothing, under ANSI mode too."""
    return F.when(whole != 0, part.cast("double") / whole.cast("double"))


def on_net_numbers(subscriptions: DataFrame) -> DataFrame:
    """The on-net numbers (``msisdn``): every subscription's number (``_on_net`` of ingest)."""
    return (subscriptions.where(F.col("msisdn").isNotNull())
            .select("msisdn").distinct())


def _edges_with_days(cdrs: DataFrame) -> DataFrame:
    """Call edges plus ``_days`` (bit d-1 for day d) and ``_roaming_ab`` (roaming calls of ``a``).

    One GROUP BY over the CDRs, keyed on the unordered pair; Spark combines each task's
    rows before the shuffle, which is what DuckDB's two-step fold does by hand.
    """
    caller, callee, start = F.col("caller"), F.col("callee"), F.col("start_time")
    ab, ba = caller < callee, caller > callee
    voice, sms = F.col("event_type") == "voice", F.col("event_type") == "sms"
    duration, roaming = F.col("duration_s"), F.col("roaming")
    return (
        cdrs.where(caller != callee)
        .select(month_of(start).alias("month"), F.least(caller, callee).alias("a"),
                F.greatest(caller, callee).alias("b"), ab.alias("_ab"), ba.alias("_ba"),
                voice.alias("_voice"), sms.alias("_sms"), duration, roaming, start)
        .groupBy("month", "a", "b")
        .agg(count_where(F.col("_ab") & F.col("_voice")).alias("calls_ab"),
             count_where(F.col("_ba") & F.col("_voice")).alias("calls_ba"),
             sum_where(F.col("_ab") & F.col("_voice"), duration).alias("seconds_ab"),
             sum_where(F.col("_ba") & F.col("_voice"), duration).alias("seconds_ba"),
             count_where(F.col("_ab") & F.col("_sms")).alias("sms_ab"),
             count_where(F.col("_ba") & F.col("_sms")).alias("sms_ba"),
             count_where(F.col("_voice") & night(start)).alias("night_calls"),
             count_where(F.col("_voice") & roaming).alias("roaming_calls"),
             count_where(F.col("_ab") & F.col("_voice") & roaming).alias("_roaming_ab"),
             F.min(start).alias("first_contact"), F.max(start).alias("last_contact"),
             F.bit_or(day_bit(start)).alias("_days"))
    )


def call_edges(cdrs: DataFrame) -> DataFrame:
    """``call_edges``: one row per month and unordered pair ``a < b``; ``_ab`` counts a → b."""
    return _edges_with_days(cdrs).select(*CALL_EDGE_COLUMNS)


def usage_monthly(cdrs: DataFrame, subscriptions: DataFrame,
                  data_usage: DataFrame | None = None) -> DataFrame:
    """``usage_monthly``: per on-net number and month, calls from the edges, data from sessions.

    Active days are days with a call, text or data session; roaming calls are those the
    number made while roaming; calls to oneself are not counted (as in DuckDB).
    """
    edges = _edges_with_days(cdrs)
    on_net = on_net_numbers(subscriptions)
    side_columns = ("msisdn", "month", "calls_out", "calls_in", "seconds_out", "seconds_in",
                    "sms_out", "sms_in", "night_calls", "roaming_calls", "_days")
    a_side = edges.select(
        F.col("a").alias("msisdn"), "month", F.col("calls_ab"), F.col("calls_ba"),
        F.col("seconds_ab"), F.col("seconds_ba"), F.col("sms_ab"), F.col("sms_ba"),
        "night_calls", F.col("_roaming_ab"), "_days").toDF(*side_columns)
    b_side = edges.select(
        F.col("b").alias("msisdn"), "month", F.col("calls_ba"), F.col("calls_ab"),
        F.col("seconds_ba"), F.col("seconds_ab"), F.col("sms_ba"), F.col("sms_ab"),
        "night_calls", F.col("roaming_calls") - F.col("_roaming_ab"), "_days"
    ).toDF(*side_columns)
    sides = (a_side.join(on_net, "msisdn", "left_semi")
             .unionByName(b_side.join(on_net, "msisdn", "left_semi")))
    calls = sides.groupBy("msisdn", "month").agg(
        *(F.sum(name).cast("bigint").alias(name)
          for name in ("calls_out", "calls_in", "seconds_out", "seconds_in", "sms_out",
                       "sms_in")),
        F.count(F.lit(1)).alias("contacts"),
        F.sum("night_calls").cast("bigint").alias("night_calls"),
        F.sum("roaming_calls").cast("bigint").alias("roaming_calls"),
        F.bit_or("_days").alias("_days"))
    if data_usage is not None:
        data = (data_usage.join(on_net, "msisdn", "left_semi")
                .groupBy("msisdn", month_of("usage_date").alias("month"))
                .agg(F.sum("megabytes").cast("double").alias("data_mb"),
                     F.bit_or(F.when(F.col("megabytes") > 0, day_bit(F.col("usage_date")))
                              .otherwise(F.lit(0).cast("bigint"))).alias("_data_days")))
        joined = calls.join(data, ["msisdn", "month"], "full")
    else:
        joined = calls.select("*", F.lit(None).cast("double").alias("data_mb"),
                              F.lit(None).cast("bigint").alias("_data_days"))

    def zero(name: str) -> Column:
        return F.coalesce(F.col(name), F.lit(0)).cast("bigint").alias(name)

    return joined.select(
        "msisdn", "month",
        *(zero(name) for name in ("calls_out", "calls_in", "seconds_out", "seconds_in",
                                  "sms_out", "sms_in", "contacts")),
        F.bit_count(F.coalesce(F.col("_days"), F.lit(0).cast("bigint"))
                    .bitwiseOR(F.coalesce(F.col("_data_days"), F.lit(0).cast("bigint"))))
        .cast("bigint").alias("active_days"),
        zero("night_calls"), zero("roaming_calls"),
        F.coalesce(F.col("data_mb"), F.lit(0.0)).alias("data_mb"),
    )


def behaviour_monthly(cdrs: DataFrame, *, cutoff: date, numbers: DataFrame | None = None,
                      data_usage: DataFrame | None = None,
                      since: date | None = None) -> DataFrame:
    """``behaviour_monthly`` rows for the complete months before ``cutoff`` (from ``since``).

    The bandicoot indicators of docs/graph-features.md, as :func:`graph.behaviour.behaviour_sql`
    computes them: each CDR counts for its on-net parties, initiated for the caller and
    received for the callee. Without ``numbers`` every party is on-net; without
    ``data_usage`` the data volume is NULL. ``numbers`` needs ``msisdn`` and ``on_net``
    (:func:`on_net_numbers` with ``on_net`` true gives the same rows as ingest's table).
    """
    c = cdrs.select("caller", "callee", "start_time", "duration_s", "event_type",
                    F.coalesce(F.col("roaming"), F.lit(False)).alias("roaming"),
                    month_of("start_time").alias("month"))
    if numbers is not None:
        flags = numbers.groupBy("msisdn").agg(F.max(F.col("on_net")).alias("on_net"))
        for party in ("caller", "callee"):
            c = (c.join(flags.withColumnsRenamed({"msisdn": party, "on_net": f"_{party}_on"}),
                        party, "left")
                 .withColumn(f"{party}_on_net", F.coalesce(F.col(f"_{party}_on"), F.lit(False)))
                 .drop(f"_{party}_on"))
    else:
        c = c.select("*", F.lit(True).alias("caller_on_net"), F.lit(True).alias("callee_on_net"))
    common = ("start_time", "duration_s", "event_type")
    made = c.where(F.col("caller_on_net")).select(
        F.col("caller").alias("msisdn"), F.col("callee").alias("contact"),
        F.col("callee_on_net").alias("contact_on_net"), F.lit(True).alias("initiated"),
        *common, "roaming", "month")
    received = c.where(F.col("callee_on_net")).select(
        F.col("callee").alias("msisdn"), F.col("caller").alias("contact"),
        F.col("caller_on_net").alias("contact_on_net"), F.lit(False).alias("initiated"),
        *common, F.lit(None).cast("boolean").alias("roaming"), "month")
    keep = F.add_months(F.col("month"), 1) <= F.lit(cutoff)
    if since is not None:
        keep = keep & (F.col("month") >= F.lit(since))
    e = (made.unionByName(received).where(keep)
         .withColumn("is_call", F.col("event_type") == "voice")
         .withColumn("nocturnal", night(F.col("start_time"))))
    is_call, initiated = F.col("is_call"), F.col("initiated")
    off_net = ~F.col("contact_on_net")

    per_contact = e.groupBy("msisdn", "month", "contact").agg(
        F.count(F.lit(1)).alias("n"), F.max(is_call).alias("called"),
        F.max(~is_call).alias("texted"), F.max(off_net).alias("off_net"))
    n = F.col("n")
    contacts = per_contact.groupBy("msisdn", "month").agg(
        F.count(F.lit(1)).alias("contacts"),
        count_where(F.col("called")).alias("call_contacts"),
        count_where(F.col("texted")).alias("sms_contacts"),
        count_where(F.col("off_net")).alias("off_net_contacts"),
        # entropy H = ln N − Σ n ln n / N over the contacts' interaction counts n
        (F.log(F.sum(n)) - F.sum(n * F.log(n)) / F.sum(n)).alias("h"))

    call_seconds = sum_where(is_call, F.col("duration_s"))
    calls = count_where(is_call)
    seconds = F.unix_micros(F.col("start_time").cast("timestamp"))
    events = e.groupBy("msisdn", "month").agg(
        F.bit_count(F.bit_or(day_bit(F.col("start_time")))).cast("bigint")
        .alias("active_days"),
        F.count(F.lit(1)).alias("interactions"),
        calls.alias("calls"),
        count_where(is_call & initiated).alias("calls_out"),
        count_where(is_call & ~initiated).alias("calls_in"),
        call_seconds.alias("call_seconds_total"),
        ratio(call_seconds, calls).alias("call_seconds_mean"),
        count_where(~is_call & initiated).alias("sms_out"),
        count_where(~is_call & ~initiated).alias("sms_in"),
        ratio(count_where(F.col("nocturnal")), F.count(F.lit(1))).alias("percent_nocturnal"),
        ratio(count_where(initiated), F.count(F.lit(1)))
        .alias("percent_initiated_interactions"),
        ratio(count_where(is_call & initiated), calls).alias("percent_initiated_calls"),
        # the mean gap between consecutive interactions
        ratio((F.max(seconds) - F.min(seconds)).cast("double") / 1e6, F.count(F.lit(1)) - 1)
        .alias("interevent_seconds_mean"),
        ratio(count_where(is_call & off_net), calls).alias("percent_out_of_network_calls"),
        ratio(sum_where(is_call & off_net, F.col("duration_s")), call_seconds)
        .alias("percent_out_of_network_minutes"),
        ratio(count_where(initiated & F.col("roaming")), count_where(initiated))
        .alias("roaming_share"))

    a = events.join(contacts, ["msisdn", "month"])
    if data_usage is not None:
        data = data_usage.groupBy("msisdn", month_of("usage_date").alias("month")).agg(
            F.sum("megabytes").cast("double").alias("_data_mb"))
        a = a.join(data, ["msisdn", "month"], "left")
        data_mb = F.coalesce(F.col("_data_mb"), F.lit(0.0))
    else:
        data_mb = F.lit(None).cast("double")
    h = F.greatest(F.col("h"), F.lit(0.0))
    columns = {
        "interactions_per_contact": ratio(F.col("interactions"), F.col("contacts")),
        "entropy_of_contacts": h,
        "entropy_of_contacts_normalized": F.when(F.col("contacts") > 1,
                                                 h / F.log(F.col("contacts"))).otherwise(0.0),
        "percent_out_of_network_contacts": ratio(F.col("off_net_contacts"), F.col("contacts")),
        "data_mb": data_mb,
    }
    return a.select(*(columns[name].alias(name) if name in columns else F.col(name)
                      for name in BEHAVIOUR_COLUMNS))
