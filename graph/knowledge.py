"""The knowledge-graph stage of a snapshot: warehouse tables → RDF in an Oxigraph store.

The graph is written columnar: DuckDB turns each staged table (and the aggregated
``numbers`` and ``call_edges``) into N-Triples text in SQL, and ``COPY`` writes it
into a FIFO that pyoxigraph's bulk loader reads at the same time. Building Python
term objects row by row is 5–10× slower (see DESIGN.md), so no row passes through
Python here (the text does, in blocks, only to count its lines).

Every node carries its principal class (``cc:Customer``, ``cc:PhoneNumber``,
``cc:Product``...) and its most specific one (``cc:IndividualCustomer``,
``cc:OnNetNumber``, ``cc:PrepaidPlan``...); the ontology is loaded into the same
default graph so SPARQL can also walk ``rdfs:subClassOf``. Raw CDRs and daily data
usage stay in the warehouse; call records enter the graph only as one
``cc:CallTie`` per pair of numbers (its parties and first contact), whose figures stay in
``call_edges``. PII beyond the
customer's name and phone numbers (identity number, address) is not copied.

Instance IRIs follow ``ontology`` (``https://id.callcircle.dev/{kind}/{id}``); the
SQL below builds exactly what ``ontology.customer_iri`` and friends build.
"""

from __future__ import annotations

import gc
import hashlib
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyoxigraph as ox
from oxrdflib import OxigraphStore
from rdflib import Graph, Literal, URIRef
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID
from rdflib.namespace import DCTERMS, FOAF, PROV, RDF, RDFS, SH, SKOS, XSD

from graph.catalogue import PREDICATES
from graph.warehouse import latest_cutoff_sql, quote_ident, sql_string
from ontology import (
    CC,
    ID,
    bind_prefixes,
    load_ontology,
    load_shapes,
    ontology_path,
    quarantine_count_iri,
    run_iri,
    snapshot_iri,
    source_file_iri,
)

Progress = Callable[[str, int, int], None]
"""``progress(label, done, total)``: called as the stage moves on (same shape as ingest's)."""

CUSTOMER_CLASSES: dict[str, URIRef] = {
    "individual": CC.IndividualCustomer,
    "enterprise": CC.EnterpriseCustomer,
    "group": CC.GroupCustomer,
}
"""``customers.customer_type`` → most specific customer class."""

PRODUCT_CLASSES: dict[tuple[str, str | None], URIRef] = {
    ("plan", "prepaid"): CC.PrepaidPlan,
    ("plan", "postpaid"): CC.PostpaidPlan,
    ("plan", None): CC.Plan,
    ("bundle", None): CC.Bundle,
    ("vas", None): CC.ValueAddedService,
}
"""(``product_type``, ``payment_type``) → most specific product class (None: any)."""


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------


@dataclass
class KnowledgeGraphReport:
    """What one build wrote, and how fast."""

    triples: int
    seconds: float
    classes: dict[str, int] = field(default_factory=dict)
    """Instances written per class (local name: ``Customer``, ``CallTie``...)."""
    generate_seconds: float = 0.0
    """Until DuckDB had written the last N-Triples (loading runs alongside)."""
    load_seconds: float = 0.0
    """From then until the store was flushed."""
    removed: int = 0
    """Triples taken out of the previous store (an update; 0 for a full build)."""
    added: int = 0
    """Lines loaded into the previous store (an update)."""
    updated_from: str | None = None
    """The store an update started from; None for a full build."""

    @property
    def triples_per_second(self) -> float:
        return self.triples / self.seconds if self.seconds else 0.0


@dataclass
class ShaclReport:
    """Outcome of a SHACL validation: full graph or a stratified sample, and which."""

    conforms: bool
    mode: str
    """``"full"`` or ``"sample"``."""
    focus_nodes: int
    violations: list[str]
    """The first violation messages (at most ``max_messages``)."""
    violation_count: int = 0
    triples_checked: int = 0
    seconds: float = 0.0
    sample_per_class: int | None = None


# ---------------------------------------------------------------------------
# SQL building blocks: N-Triples terms from columns
# ---------------------------------------------------------------------------


def _iri_const(iri: str) -> str:
    return sql_string(f"<{iri}>")


def _string(expr: str) -> str:
    """An N-Triples plain literal; escapes backslash, quote, LF and CR (all N-Triples needs)."""
    escaped = (
        f"replace(replace(replace(replace(CAST({expr} AS VARCHAR), '\\', '\\\\'), "
        f"'\"', '\\\"'), chr(10), '\\n'), chr(13), '\\r')"
    )
    return f"'\"' || {escaped} || '\"'"


def _typed(lexical: str, datatype: URIRef) -> str:
    suffix = sql_string('"^^<' + str(datatype) + ">")
    return f"'\"' || {lexical} || {suffix}"


def _id_iri(kind: str, expr: str) -> str:
    """IRI of an operator identifier: ``ontology._iri`` in SQL (url_encode = quote(safe=''))."""
    return f"{sql_string(f'<{ID}{kind}/')} || url_encode(CAST({expr} AS VARCHAR)) || '>'"


def _number_segment(expr: str) -> str:
    return (
        f"CASE WHEN regexp_full_match({expr}, '\\+?[0-9]+') THEN ltrim({expr}, '+') "
        f"ELSE url_encode({expr}) END"
    )


def _number_iri(expr: str) -> str:
    """``ontology.number_iri`` in SQL: E.164 digits without '+'."""
    return f"{sql_string(f'<{ID}number/')} || {_number_segment(expr)} || '>'"


def _decimal(expr: str, scale: int) -> str:
    """xsd:decimal lexical form without exponent or trailing zeros."""
    return f"regexp_replace(printf('%.{scale}f', CAST({expr} AS DOUBLE)), '\\.?0+$', '')"


def _term(kind: str, expr: str) -> str:
    """The N-Triples object for a column of the given kind (NULL stays NULL)."""
    if kind == "string":
        return _string(expr)
    if kind == "date":
        return _typed(f"strftime(CAST({expr} AS DATE), '%Y-%m-%d')", XSD.date)
    if kind == "datetime":
        return _typed(f"strftime(CAST({expr} AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S')", XSD.dateTime)
    if kind == "month":
        return _typed(f"strftime(CAST({expr} AS DATE), '%Y-%m')", XSD.gYearMonth)
    if kind == "integer":
        return _typed(f"CAST(CAST({expr} AS BIGINT) AS VARCHAR)", XSD.integer)
    if kind == "money":
        return _typed(_decimal(expr, 4), XSD.decimal)
    if kind == "price":
        return _typed(_decimal(expr, 6), XSD.decimal)
    if kind == "boolean":
        return _typed(f"CASE WHEN {expr} THEN 'true' ELSE 'false' END", XSD.boolean)
    if kind == "double":
        value = f"CAST({expr} AS DOUBLE)"
        return _typed(f"CASE WHEN isfinite({value}) THEN CAST({value} AS VARCHAR) END",
                      XSD.double)
    if kind == "number":
        return _number_iri(expr)
    if kind == "operator":
        return _id_iri("operator", f"NULLIF(trim({expr}), '')")
    if kind.startswith("iri:"):
        return _id_iri(kind[4:], expr)
    raise ValueError(f"unknown term kind {kind!r}")


def _triple(predicate: URIRef, obj: str) -> str:
    """One N-Triples line about the row's subject ``s`` (NULL if the object is NULL)."""
    return f"s || {sql_string(f' <{predicate}> ')} || {obj} || ' .'"


def _code_case(expr: str, mapping: dict[str, str]) -> str:
    """SQL CASE turning a source code into an IRI term (unknown codes give NULL)."""
    whens = " ".join(f"WHEN {sql_string(code)} THEN {_iri_const(iri)}"
                     for code, iri in mapping.items())
    return f"CASE {expr} {whens} END"


# ---------------------------------------------------------------------------
# What each warehouse table becomes
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    table: str
    kind: str
    """IRI kind of the subject (``customer`` → ``id:customer/{key}``)."""
    key: str
    principal: URIRef
    properties: tuple[tuple[str, URIRef, str], ...]
    """(column, predicate, term kind)."""
    specific: str | None = None
    """SQL giving the most specific class as an N-Triples IRI term, if any."""
    specific_column: str | None = None
    """Column the ``specific`` SQL needs."""


def _customer_class() -> str:
    return _code_case("customer_type", {k: str(v) for k, v in CUSTOMER_CLASSES.items()})


def _product_class() -> str:
    whens = []
    for (product_type, payment_type), cls in PRODUCT_CLASSES.items():
        cond = f"product_type = {sql_string(product_type)}"
        if payment_type is not None:
            cond += f" AND payment_type = {sql_string(payment_type)}"
        whens.append(f"WHEN {cond} THEN {_iri_const(str(cls))}")
    return f"CASE {' '.join(whens)} END"


_TABLES: tuple[_Table, ...] = (
    _Table("customers", "customer", "customer_id", CC.Customer, (
        ("customer_id", DCTERMS.identifier, "string"),
        ("name", FOAF.name, "string"),
        ("gender", CC.gender, "string"),
        ("birth_date", CC.birthDate, "date"),
        ("region", CC.region, "string"),
        ("join_date", CC.joinDate, "date"),
        ("do_not_contact", CC.doNotContact, "boolean"),
    ), specific=_customer_class(), specific_column="customer_type"),
    _Table("products", "product", "product_id", CC.Product, (
        ("product_id", DCTERMS.identifier, "string"),
        ("name", RDFS.label, "string"),
        ("payment_type", CC.paymentType, "string"),
        ("monthly_fee", CC.monthlyFee, "money"),
        ("included_minutes", CC.includedMinutes, "integer"),
        ("included_sms", CC.includedSms, "integer"),
        ("included_data_mb", CC.includedDataMb, "integer"),
        ("price_per_minute", CC.pricePerMinute, "price"),
        ("price_per_mb", CC.pricePerMb, "price"),
    ), specific=_product_class(), specific_column="product_type"),
    _Table("subscriptions", "subscription", "subscription_id", CC.Subscription, (
        ("subscription_id", DCTERMS.identifier, "string"),
        ("customer_id", CC.heldBy, "iri:customer"),
        ("msisdn", CC.hasNumber, "number"),
        ("product_id", CC.onPlan, "iri:product"),
        ("status", CC.status, "string"),
        ("start_date", CC.startDate, "date"),
        ("end_date", CC.endDate, "date"),
    )),
    _Table("bills", "bill", "bill_id", CC.Bill, (
        ("bill_id", DCTERMS.identifier, "string"),
        ("subscription_id", CC.billedLine, "iri:subscription"),
        ("period", CC.billingPeriod, "month"),
        ("issue_date", CC.issueDate, "date"),
        ("due_date", CC.dueDate, "date"),
        ("recurring_charge", CC.recurringCharge, "money"),
        ("voice_charge", CC.voiceCharge, "money"),
        ("sms_charge", CC.smsCharge, "money"),
        ("data_charge", CC.dataCharge, "money"),
        ("vas_charge", CC.vasCharge, "money"),
        ("roaming_charge", CC.roamingCharge, "money"),
        ("total_amount", CC.totalAmount, "money"),
        ("arrears", CC.arrears, "money"),
    )),
    _Table("payments", "payment", "payment_id", CC.Payment, (
        ("payment_id", DCTERMS.identifier, "string"),
        ("subscription_id", CC.paidLine, "iri:subscription"),
        ("bill_id", CC.settles, "iri:bill"),
        ("paid_at", CC.paidAt, "datetime"),
        ("amount", CC.amount, "money"),
        ("method", CC.paymentMethod, "string"),
    )),
    _Table("interactions", "interaction", "interaction_id", CC.Interaction, (
        ("interaction_id", DCTERMS.identifier, "string"),
        ("customer_id", CC.customer, "iri:customer"),
        ("msisdn", CC.number, "known-number"),
        ("channel", CC.channel, "channel"),
        ("occurred_at", CC.occurredAt, "datetime"),
        ("category", CC.category, "string"),
        ("outcome", CC.interactionOutcome, "string"),
    )),
    _Table("campaigns", "campaign", "campaign_id", CC.Campaign, (
        ("campaign_id", DCTERMS.identifier, "string"),
        ("name", RDFS.label, "string"),
        ("objective", CC.objective, "string"),
        ("offer", CC.offer, "string"),
        ("channels", CC.usesChannel, "channels"),
        ("start_date", CC.startDate, "date"),
        ("end_date", CC.endDate, "date"),
        ("budget", CC.budget, "money"),
        ("cost_per_contact", CC.costPerContact, "price"),
        ("control_share", CC.controlShare, "price"),
    )),
    _Table("campaign_contacts", "campaign-contact", "contact_id", CC.CampaignContact, (
        ("contact_id", DCTERMS.identifier, "string"),
        ("campaign_id", CC.campaign, "iri:campaign"),
        ("customer_id", CC.customer, "iri:customer"),
        ("msisdn", CC.number, "known-number"),
        ("channel", CC.channel, "channel"),
        ("contacted_at", CC.contactedAt, "datetime"),
        ("contact_group", CC.contactGroup, "string"),
    )),
    _Table("campaign_responses", "campaign-response", "response_id", CC.CampaignResponse, (
        ("response_id", DCTERMS.identifier, "string"),
        ("contact_id", CC.respondsTo, "iri:campaign-contact"),
        ("responded_at", CC.respondedAt, "datetime"),
        ("response", CC.responseType, "string"),
        ("revenue", CC.revenue, "money"),
    )),
    _Table("churn_events", "churn-event", "event_id", CC.ChurnEvent, (
        ("event_id", DCTERMS.identifier, "string"),
        ("subscription_id", CC.churnedLine, "iri:subscription"),
        ("churn_date", CC.churnDate, "date"),
        ("churn_type", CC.churnType, "string"),
        ("recipient_operator", CC.recipientOperator, "operator"),
    )),
)


def _channel_codes(ontology: Graph) -> dict[str, str]:
    """Source channel code → channel individual, read from the ontology's skos:notation."""
    return {
        str(code): str(channel)
        for channel in ontology.subjects(RDF.type, CC.Channel)
        for code in ontology.objects(channel, SKOS.notation)
    }


def _table_sql(spec: _Table, columns: set[str], channels: dict[str, str],
               has_numbers: bool, rows: str | None = None) -> str | None:
    """One SELECT yielding, per row, that row's triples joined by newlines (the rows of
    ``spec.table``, or of the relation ``rows`` with its columns)."""
    if spec.key not in columns:
        return None
    lines = [_triple(RDF.type, _iri_const(str(spec.principal)))]
    if spec.specific is not None and spec.specific_column in columns:
        lines.append(_triple(RDF.type, spec.specific))
    for column, predicate, kind in spec.properties:
        if column not in columns:
            continue
        if kind == "channel":
            lines.append(_triple(predicate, _code_case(f"trim({column})", channels)))
        elif kind == "channels":
            one = _triple(predicate, _code_case("trim(c)", channels))
            lines.append(
                f"array_to_string(list_transform(string_split({column}, ';'), lambda c: {one}),"
                " chr(10))"
            )
        elif kind == "known-number":
            if not has_numbers:
                continue
            lines.append(_triple(predicate, (
                f"CASE WHEN {column} IN (SELECT msisdn FROM numbers) "
                f"THEN {_number_iri(column)} END")))
        else:
            lines.append(_triple(predicate, _term(kind, column)))
    subject = _id_iri(spec.kind, spec.key)
    return (f"SELECT concat_ws(chr(10), {', '.join(lines)}) AS nt "
            f"FROM (SELECT {subject} AS s, * FROM {rows or spec.table})")


def _numbers_sql(columns: set[str], rows: str = "numbers") -> str:
    lines = [
        _triple(RDF.type, _iri_const(str(CC.PhoneNumber))),
        _triple(RDF.type, f"CASE WHEN on_net THEN {_iri_const(str(CC.OnNetNumber))} "
                          f"ELSE {_iri_const(str(CC.OffNetNumber))} END"),
        _triple(CC.e164, _string("msisdn")),
    ]
    if "operator" in columns:
        lines.append(_triple(CC.numberOperator, _term("operator", "operator")))
    if "subscription_id" in columns:
        lines.append(_triple(CC.subscription, (
            f"CASE WHEN on_net THEN {_term('iri:subscription', 'subscription_id')} END")))
    for column, predicate in (("first_seen", CC.firstSeen), ("last_seen", CC.lastSeen)):
        if column in columns:
            lines.append(_triple(predicate, _term("date", column)))
    return (f"SELECT concat_ws(chr(10), {', '.join(lines)}) AS nt "
            f"FROM (SELECT {_number_iri('msisdn')} AS s, * FROM {rows})")


def _ties_sql(rows: str = "call_edges") -> str:
    """One cc:CallTie per pair (its parties and first contact) and the cc:callsWith shortcut.

    A tie's figures (calls, minutes, texts each way, per month) stay in ``call_edges``, as
    the ontology's ``cc:warehouseColumn`` annotations say: summed over months they change for
    almost every pair every month, so in RDF they would be most of what a monthly run
    rewrites (docs/ontology.md, "Where the triples go").
    """
    ties = f"SELECT a, b, min(first_contact) AS first_contact FROM {rows} GROUP BY a, b"
    # each number's IRI segment once per pair: the subject and four objects reuse it
    segments = (f"SELECT *, {_number_segment('a')} AS segment_a, "
                f"{_number_segment('b')} AS segment_b FROM ({ties})")
    number = sql_string(f"<{ID}number/")
    iris = (f"{sql_string(f'<{ID}tie/')} || segment_a || '/' || segment_b || '>' AS s, "
            f"{number} || segment_a || '>' AS number_a, {number} || segment_b || '>' AS number_b")
    lines = [
        _triple(RDF.type, _iri_const(str(CC.CallTie))),
        _triple(CC.partyA, "number_a"),
        _triple(CC.partyB, "number_b"),
        _triple(CC.firstContact, _term("datetime", "first_contact")),
        f"number_a || {sql_string(f' <{CC.callsWith}> ')} || number_b || ' .'",
    ]
    return (f"SELECT concat_ws(chr(10), {', '.join(lines)}) AS nt "
            f"FROM (SELECT {iris}, * FROM ({segments}))")


def _circles_sql() -> str:
    """The call circles of the latest cut-off, with their figures."""
    lines = [
        _triple(RDF.type, _iri_const(str(CC.CallCircle))),
        _triple(DCTERMS.identifier, _string("circle_id")),
        _triple(CC.asOf, _term("date", "cutoff")),
        _triple(CC.circleSize, _term("integer", "size")),
        _triple(CC.circleDensity, _term("double", "density")),
        _triple(CC.internalCallShare, _term("double", "internal_call_share")),
        _triple(CC.circleChurnRate, _term("double", "churn_rate")),
        _triple(CC.onNetShare, _term("double", "1 - off_net_share")),
        _triple(CC.circleValue, _term("double", "total_value")),
        _triple(CC.dominantPlan, _term("iri:product", "dominant_plan")),
    ]
    return (f"SELECT concat_ws(chr(10), {', '.join(lines)}) AS nt "
            f"FROM (SELECT {_id_iri('circle', 'circle_id')} AS s, * FROM circles "
            f"WHERE cutoff = {latest_cutoff_sql('circles')})")


_RANGE_KINDS: dict[URIRef, str] = {XSD.integer: "integer", XSD.double: "double",
                                    XSD.boolean: "boolean", XSD.decimal: "money"}
"""A datatype property's ``rdfs:range`` → term kind of its objects."""


def _circle_members_sql(ontology: Graph, members: set[str], features: set[str]) -> str:
    """Membership of the latest circles, with each member's catalogued features
    (``graph.catalogue.PREDICATES``: influence, churn exposure) from ``circle_members``
    or else ``graph_features`` (``members``, ``features``: their columns)."""
    lines = [
        _triple(CC.inCircle, _id_iri("circle", "circle_id")),
        _triple(CC.influencer, _term("boolean", "is_influencer")),
    ]
    joined = []
    for column, predicate in PREDICATES.items():
        if column not in members and column not in features:
            continue
        kind = _RANGE_KINDS[ontology.value(predicate, RDFS.range)]
        lines.append(_triple(predicate, _term(kind, column)))
        if column not in members:
            joined.append(f"g.{column}")
    source = " FROM circle_members m"
    if joined:
        source = (f", {', '.join(joined)} FROM circle_members m LEFT JOIN graph_features g "
                  "ON g.cutoff = m.cutoff AND g.msisdn = m.msisdn")
    return (f"SELECT concat_ws(chr(10), {', '.join(lines)}) AS nt "
            f"FROM (SELECT {_number_iri('m.msisdn')} AS s, m.*{source} "
            f"WHERE m.cutoff = {latest_cutoff_sql('circle_members')})")


def _operators_sql(sources: list[tuple[str, str]]) -> str:
    names = " UNION ".join(
        f"SELECT NULLIF(trim({column}), '') AS name FROM {table}" for table, column in sources
    )
    lines = [
        _triple(RDF.type, _iri_const(str(CC.Operator))),
        _triple(FOAF.name, _string("name")),
    ]
    return (f"SELECT concat_ws(chr(10), {', '.join(lines)}) AS nt FROM "
            f"(SELECT {_id_iri('operator', 'name')} AS s, name FROM ({names}) "
            f"WHERE name IS NOT NULL)")


def _warehouse_columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_catalog = current_database()"
    ).fetchall()
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0])


class _LineCounter:
    """A FIFO's read end that counts the N-Triples lines the bulk loader reads through it."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "rb", buffering=1 << 20)
        self.lines = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        self.lines += chunk.count(b"\n")
        return chunk

    def close(self) -> None:
        self._file.close()


def ntriples_copy(sql: str, target: Path) -> str:
    """``COPY`` writing the rows of ``sql`` (one N-Triples line each) to ``target`` as is."""
    return (f"COPY ({sql}) TO {sql_string(str(target))} (FORMAT csv, HEADER false, QUOTE '', "
            "ESCAPE '', DELIMITER '\x1f', USE_TMP_FILE false)")


def _copy_into_store(con: duckdb.DuckDBPyConnection, sql: str, store: ox.Store,
                     workdir: Path, progress: Progress) -> tuple[int, float]:
    """``COPY`` the N-Triples of ``sql`` straight into the store's bulk loader.

    DuckDB writes into a FIFO that the bulk loader reads on another thread, so the SQL
    and the load (the slow part: Oxigraph sorts every triple into three indexes) run at
    once and the text never touches the disk. Returns the lines loaded and when the SQL
    finished.
    """
    with tempfile.TemporaryDirectory(prefix=".kg-", dir=workdir) as tmp:
        fifo = Path(tmp) / "warehouse.nt"
        os.mkfifo(fifo)
        # Both ends are open before DuckDB starts: the loader sees end-of-file only once
        # every writer (this one and DuckDB's) has closed, and if the loader stops,
        # DuckDB's writes fail instead of blocking.
        read_end = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        write_end = os.open(fifo, os.O_WRONLY)
        os.set_blocking(read_end, True)
        reader = _LineCounter(read_end)
        failures: list[BaseException] = []

        def load() -> None:
            try:
                store.bulk_load(input=reader, format=ox.RdfFormat.N_TRIPLES, lenient=True)
            except BaseException as error:  # re-raised below, on the calling thread
                failures.append(error)
            finally:
                reader.close()

        loader = threading.Thread(target=load, name="knowledge-graph-bulk-load")
        loader.start()
        copy_error: duckdb.Error | None = None
        try:
            con.execute(ntriples_copy(sql, fifo)).fetchall()
        except duckdb.Error as error:
            copy_error = error
        finally:
            generated = time.perf_counter()
            os.close(write_end)
            progress("knowledge graph: bulk loading", 1, 2)
            loader.join()
        if failures:
            raise failures[0] from copy_error
        if copy_error is not None:
            raise copy_error
    return reader.lines, generated


# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------


def knowledge_graph_sql(con: duckdb.DuckDBPyConnection, ontology: Graph | None = None, *,
                        rows: Mapping[str, str] | None = None
                        ) -> tuple[str | None, dict[str, int]]:
    """The SELECT whose rows are the warehouse's N-Triples lines, and the instances it
    writes per class; None when the warehouse holds nothing to write.

    Missing or empty tables (a source without CDRs or bills) are skipped. ``rows`` reads
    the subjects of a staged table, ``numbers`` or ``call_edges`` from another relation of
    the same columns (a part of its rows: :func:`update_knowledge_graph`); what the lines
    refer to (known numbers, circles) is still read from the tables.
    """
    rows = rows or {}
    ontology = ontology if ontology is not None else load_ontology()
    channels = _channel_codes(ontology)
    tables = _warehouse_columns(con)
    has_numbers = "numbers" in tables and "msisdn" in tables["numbers"]

    selects: list[str] = []
    classes: dict[str, int] = {}
    for spec in _TABLES:
        if spec.table not in tables:
            continue
        count = _count(con, f"SELECT count(*) FROM {spec.table}")
        sql = (_table_sql(spec, tables[spec.table], channels, has_numbers, rows.get(spec.table))
               if count else None)
        if sql is not None:
            selects.append(sql)
            classes[spec.principal.removeprefix(str(CC))] = count
    if has_numbers:
        columns = tables["numbers"]
        count = _count(con, "SELECT count(*) FROM numbers")
        if count:
            selects.append(_numbers_sql(columns, rows.get("numbers", "numbers")))
            classes["PhoneNumber"] = count
            if "on_net" in columns:
                on_net = _count(con, "SELECT count(*) FROM numbers WHERE on_net")
                classes["OnNetNumber"], classes["OffNetNumber"] = on_net, count - on_net
    if {"a", "b", "month"} <= tables.get("call_edges", set()):
        ties = _count(con, "SELECT count(*) FROM (SELECT DISTINCT a, b FROM call_edges)")
        if ties:
            selects.append(_ties_sql(rows.get("call_edges", "call_edges")))
            classes["CallTie"] = ties
    if {"cutoff", "circle_id"} <= tables.get("circles", set()):
        circles = _count(con, "SELECT count(*) FROM circles "
                              f"WHERE cutoff = {latest_cutoff_sql('circles')}")
        if circles:
            selects.append(_circles_sql())
            classes["CallCircle"] = circles
            if {"cutoff", "msisdn"} <= tables.get("circle_members", set()):
                selects.append(_circle_members_sql(
                    ontology, tables["circle_members"], tables.get("graph_features", set())))
    operator_sources = [
        (table, column)
        for table, column in (("numbers", "operator"), ("churn_events", "recipient_operator"))
        if column in tables.get(table, set())
    ]
    if operator_sources:
        operators = _count(con, f"SELECT count(*) FROM ({_operators_sql(operator_sources)})")
        if operators:
            selects.append(_operators_sql(operator_sources))
            classes["Operator"] = operators

    return (" UNION ALL ".join(selects) if selects else None), classes


def _load_turtle(store: ox.Store, texts: Sequence[str]) -> int:
    """Add Turtle documents (the run's provenance) to the store as they are; their blank
    nodes get fresh labels. Returns the triples added."""
    added = 0
    for text in texts:
        quads = list(ox.parse(text.encode("utf-8"), format=ox.RdfFormat.TURTLE,
                              without_named_graphs=True, rename_blank_nodes=True))
        store.extend(quads)
        added += len(quads)
    return added


def build_knowledge_graph(
    con: duckdb.DuckDBPyConnection,
    store_path: Path,
    *,
    extra_turtle: Sequence[str] = (),
    progress: Progress | None = None,
) -> KnowledgeGraphReport:
    """Write the snapshot's knowledge graph from the warehouse into a new Oxigraph store.

    Missing or empty tables (a source without CDRs or bills) are skipped. The
    ontology goes into the store too, so SPARQL can use ``rdfs:subClassOf``.
    ``extra_turtle`` (e.g. :func:`provenance_turtle` of the run) is loaded as is.
    ``store_path`` must not exist yet or be an empty directory.
    """
    started = time.perf_counter()
    store_path = Path(store_path)
    if store_path.exists() and any(store_path.iterdir()):
        raise FileExistsError(
            f"{store_path} already holds a store; the knowledge graph is built into a fresh "
            "directory of a building snapshot"
        )
    report_progress = progress or (lambda _label, _done, _total: None)
    ontology = load_ontology()
    sql, classes = knowledge_graph_sql(con, ontology)

    store_path.mkdir(parents=True, exist_ok=True)
    report_progress("knowledge graph: SQL into the bulk loader", 0, 2)
    store = ox.Store(str(store_path))
    try:
        store.bulk_load(path=ontology_path(), format=ox.RdfFormat.TURTLE)
        written, generated = 0, time.perf_counter()
        if sql is not None:
            written, generated = _copy_into_store(con, sql, store, store_path.parent,
                                                  report_progress)
        extra = _load_turtle(store, extra_turtle)
        store.flush()
    finally:
        del store
        gc.collect()
    loaded = time.perf_counter()
    report_progress("knowledge graph: done", 2, 2)
    return KnowledgeGraphReport(
        triples=written + len(ontology) + extra,
        seconds=round(loaded - started, 3),
        classes=classes,
        generate_seconds=round(generated - started, 3),
        load_seconds=round(loaded - generated, 3),
    )


KNOWLEDGE_GRAPH_FORMAT = 2
"""Bumped whenever the SQL above writes other triples for the same warehouse: a store
written under another format (or ontology) is rebuilt, not updated."""


def knowledge_graph_fingerprint() -> dict[str, Any]:
    """What a store's triples depend on besides the warehouse (kept in the manifest)."""
    ontology = Path(ontology_path()).read_bytes()
    return {"format": KNOWLEDGE_GRAPH_FORMAT,
            "ontology_sha256": hashlib.sha256(ontology).hexdigest()}


class KnowledgeGraphNotUpdatable(Exception):
    """The previous warehouse differs in more than rows (columns, tables): rebuild."""


_UPDATE_KEYS: dict[str, tuple[str, ...]] = {
    **{spec.table: (spec.key,) for spec in _TABLES}, "numbers": ("msisdn",),
    "call_edges": ("a", "b"),
}
"""The tables whose subjects an update rewrites one by one, and the columns naming a
subject (a tie is the pair; its lines sum all its months)."""

_KNOWN_NUMBER_COLUMNS: dict[str, tuple[str, ...]] = {
    spec.table: tuple(column for column, _, kind in spec.properties if kind == "known-number")
    for spec in _TABLES
}
"""Columns whose triple depends on the ``numbers`` table, not only on the row."""


def _changed_rows(con: duckdb.DuckDBPyConnection, table: str, columns: set[str],
                  previous: str | None, current: str) -> None:
    """Temp tables ``_kg_old_<table>``/``_kg_new_<table>``: every row, before and now, of
    the subjects whose rows changed (or whose known-number object did). ``previous`` None:
    the previous warehouse had no such table, so every subject is new."""
    key = ", ".join(quote_ident(k) for k in _UPDATE_KEYS[table])
    new = f"{quote_ident(current)}.main.{table}"
    if previous is None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _kg_keys_{table} AS "
                    f"SELECT DISTINCT {key} FROM {new}")
    else:
        cols = ", ".join(quote_ident(c) for c in sorted(columns))
        old = f"{quote_ident(previous)}.main.{table}"
        touched = [
            f"SELECT {key} FROM (SELECT {cols} FROM {new} EXCEPT SELECT {cols} FROM {old})",
            f"SELECT {key} FROM (SELECT {cols} FROM {old} EXCEPT SELECT {cols} FROM {new})"]
        for column in _KNOWN_NUMBER_COLUMNS.get(table, ()):
            if column in columns:
                touched += [f"SELECT {key} FROM {side} WHERE {quote_ident(column)} IN "
                            "(SELECT msisdn FROM _kg_numbers_moved)" for side in (old, new)]
        con.execute(f"CREATE OR REPLACE TEMP TABLE _kg_keys_{table} AS "
                    f"SELECT DISTINCT * FROM ({' UNION ALL '.join(touched)})")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _kg_old_{table} AS SELECT * FROM {old} "
                    f"SEMI JOIN _kg_keys_{table} USING ({key})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _kg_new_{table} AS SELECT * FROM {new} "
                f"SEMI JOIN _kg_keys_{table} USING ({key})")


def _lines_table(con: duckdb.DuckDBPyConnection, name: str, sql: str | None) -> None:
    """The N-Triples lines of ``sql`` (rows of several lines split) as a temp table."""
    body = (f"SELECT DISTINCT unnest(string_split(nt, chr(10))) AS line FROM ({sql}) "
            "WHERE nt IS NOT NULL AND nt <> ''" if sql is not None
            else "SELECT NULL::VARCHAR AS line WHERE FALSE")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {body}")


def update_knowledge_graph(
    con: duckdb.DuckDBPyConnection,
    store_path: Path,
    *,
    previous_store: Path,
    previous_warehouse: Path,
    extra_turtle: Sequence[str] = (),
    progress: Progress | None = None,
) -> KnowledgeGraphReport:
    """Write the snapshot's knowledge graph as the previous store plus what changed.

    The previous store is checkpointed into ``store_path`` (``Store.backup``: its files
    are hard-linked, nothing is copied, and the published store is never opened for
    writing). The lines of every subject whose warehouse rows differ from the previous
    warehouse's (customers, bills, numbers, ties...) are generated on both sides, as
    :func:`build_knowledge_graph` writes them, and only the difference goes in and out;
    circles, memberships and operators, replaced at every cut-off, are compared whole.
    The result holds the triples a full build writes, plus what the previous store had
    beyond the warehouse's own lines (the runs' provenance, scores and tags written back).
    Raises :class:`KnowledgeGraphNotUpdatable` when the two warehouses differ in columns.
    """
    started = time.perf_counter()
    store_path = Path(store_path)
    if store_path.exists():
        raise FileExistsError(f"{store_path} already exists; updates go into a fresh directory")
    report_progress = progress or (lambda _label, _done, _total: None)
    ontology = load_ontology()
    current = con.execute("SELECT current_database()").fetchall()[0][0]
    previous = "_kg_previous"
    con.execute(f"ATTACH {sql_string(str(previous_warehouse))} AS {previous} (READ_ONLY)")
    temps: list[str] = []
    try:
        report_progress("knowledge graph: what changed in the warehouse", 0, 3)
        now = _warehouse_columns(con)
        con.execute(f"USE {previous}")
        before = _warehouse_columns(con)
        con.execute(f"USE {quote_ident(current)}")
        shared = {t for t in _UPDATE_KEYS if t in now}
        for table in sorted(set(_UPDATE_KEYS) & set(before)):
            if now.get(table) != before[table]:
                raise KnowledgeGraphNotUpdatable(
                    f"{table} has other columns than in {previous_warehouse}")
        # numbers known on one side only: their interactions' cc:number comes or goes
        moved = "(SELECT msisdn FROM {a}.main.numbers EXCEPT SELECT msisdn FROM {b}.main.numbers)"
        both = "numbers" in before and "numbers" in now
        con.execute("CREATE OR REPLACE TEMP TABLE _kg_numbers_moved AS " + (
            f"{moved.format(a=quote_ident(current), b=previous)} UNION "
            f"{moved.format(a=previous, b=quote_ident(current))}" if both else
            "SELECT NULL::VARCHAR AS msisdn WHERE FALSE"))
        temps.append("_kg_numbers_moved")
        for table in sorted(shared):
            _changed_rows(con, table, now[table], previous if table in before else None,
                          current)
            temps += [f"_kg_keys_{table}", f"_kg_old_{table}", f"_kg_new_{table}"]
        new_sql, classes = knowledge_graph_sql(
            con, ontology, rows={t: f"_kg_new_{t}" for t in shared})
        _lines_table(con, "_kg_new_lines", new_sql)
        con.execute(f"USE {previous}")
        try:
            old_rows = {t: f"_kg_old_{t}" for t in shared & set(before)}
            old_sql, _ = knowledge_graph_sql(con, ontology, rows=old_rows)
            _lines_table(con, "_kg_old_lines", old_sql)
        finally:
            con.execute(f"USE {quote_ident(current)}")
        temps += ["_kg_new_lines", "_kg_old_lines", "_kg_removed", "_kg_added"]
        con.execute("CREATE OR REPLACE TEMP TABLE _kg_removed AS "
                    "SELECT line FROM _kg_old_lines EXCEPT SELECT line FROM _kg_new_lines")
        con.execute("CREATE OR REPLACE TEMP TABLE _kg_added AS "
                    "SELECT line FROM _kg_new_lines EXCEPT SELECT line FROM _kg_old_lines")
        generated = time.perf_counter()

        report_progress("knowledge graph: removing what changed", 1, 3)
        store_path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint_knowledge_graph(previous_store, store_path)
        store = ox.Store(str(store_path))
        try:
            removed = 0
            batches = con.sql("SELECT line FROM _kg_removed").to_arrow_reader(100_000)
            for batch in batches:
                text = "\n".join(batch.column(0).to_pylist()) + "\n"
                for quad in ox.parse(text.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES):
                    store.remove(quad)
                    removed += 1
            report_progress("knowledge graph: loading what is new", 2, 3)
            added, _ = _copy_into_store(con, "SELECT line AS nt FROM _kg_added", store,
                                        store_path.parent, report_progress)
            _load_turtle(store, extra_turtle)
            store.flush()
            triples = len(store)
        finally:
            del store
            gc.collect()
    finally:
        for name in temps:
            con.execute(f"DROP TABLE IF EXISTS {name}")
        con.execute(f"DETACH {previous}")
    loaded = time.perf_counter()
    report_progress("knowledge graph: done", 3, 3)
    return KnowledgeGraphReport(
        triples=triples, seconds=round(loaded - started, 3), classes=classes,
        generate_seconds=round(generated - started, 3),
        load_seconds=round(loaded - generated, 3), removed=removed, added=added,
        updated_from=str(previous_store))


def checkpoint_knowledge_graph(store_path: Path, target: Path) -> None:
    """A copy of a published store that a derived snapshot can write into.

    Oxigraph's ``backup`` of the store opened read-only: on the same filesystem its data
    files are hard-linked, not copied (0.2 s against 3.1 s for the demo's 319 MB store),
    and writes into the copy never reach them (they are immutable once written).
    """
    ox.Store.read_only(str(store_path)).backup(str(target))


def replace_triples(store_path: Path, deletes: Sequence[str], ntriples: Sequence[str]) -> int:
    """Run SPARQL ``deletes`` on a building snapshot's store, then bulk-load ``ntriples``.

    How later stages (scores, tags) write back: their previous values go, the new ones
    come in through the same bulk loader as the snapshot's own triples. Returns the
    number of N-Triples lines loaded.
    """
    store_path = Path(store_path)
    store_path.mkdir(parents=True, exist_ok=True)
    store = ox.Store(str(store_path))
    try:
        for update in deletes:
            store.update(update)
        if ntriples:
            with tempfile.NamedTemporaryFile("w", suffix=".nt", encoding="utf-8",
                                             dir=store_path.parent, delete=False) as handle:
                handle.write("\n".join(ntriples) + "\n")
                nt_path = Path(handle.name)
            try:
                store.bulk_load(path=str(nt_path), format=ox.RdfFormat.N_TRIPLES)
            finally:
                nt_path.unlink(missing_ok=True)
        store.flush()
    finally:
        del store
        gc.collect()
    return len(ntriples)


# ---------------------------------------------------------------------------
# Census
# ---------------------------------------------------------------------------


@dataclass
class KnowledgeGraphCensus:
    """How a store's triples divide: per class of their subject and per predicate."""

    triples: int
    classes: dict[str, int]
    """Instances per class (``cc:Customer``...), most first."""
    predicates: dict[str, int]
    """Triples per predicate (``cc:inCircle``...), most first."""
    triples_by_class: dict[str, int]
    """Triples whose subject's principal class is this one (``cc:`` classes only)."""


def knowledge_graph_census(store_path: Path) -> KnowledgeGraphCensus:
    """Count a snapshot's triples per class and per predicate, in Oxigraph's own SPARQL.

    What slimming the graph would save is read off ``triples_by_class``: a class whose
    instances carry most of the triples is where monthly detail would cost the most.
    """
    store = ox.Store.read_only(str(store_path))
    manager = bind_prefixes(Graph()).namespace_manager

    def counts(query: str) -> dict[str, int]:
        pairs = [(URIRef(row[0].value).n3(manager), int(row[1].value))
                 for row in store.query(query)]
        return dict(sorted(pairs, key=lambda kv: (-kv[1], kv[0])))

    principal = " ".join(f"<{c}>" for c in principal_classes())
    return KnowledgeGraphCensus(
        triples=len(store),
        classes=counts("SELECT ?c (COUNT(?s) AS ?n) WHERE { ?s a ?c } GROUP BY ?c"),
        predicates=counts("SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p"),
        triples_by_class=counts(f"SELECT ?c (COUNT(*) AS ?n) WHERE {{ VALUES ?c {{ {principal} }}"
                                " ?s a ?c . ?s ?p ?o } GROUP BY ?c"),
    )


def principal_classes() -> list[URIRef]:
    """The class each instance of the graph is counted under (its most specific one aside)."""
    return [*(spec.principal for spec in _TABLES), CC.PhoneNumber, CC.CallTie, CC.CallCircle,
            CC.Operator]


# ---------------------------------------------------------------------------
# Open
# ---------------------------------------------------------------------------


def open_knowledge_graph(store_path: Path, *, read_only: bool = True) -> Graph:
    """An rdflib Graph over the snapshot's Oxigraph store (default graph).

    Read-only opens never lock the store, so any number of processes (API workers,
    insight jobs) can query a published snapshot at once. Queries run in Oxigraph,
    with the project's prefixes (``cc:``, ``id:``, ``prov:``...) predeclared.
    """
    store_path = Path(store_path)
    if read_only:
        if not store_path.is_dir():
            raise FileNotFoundError(f"no knowledge graph at {store_path}; run `callcircle ingest`")
        inner = ox.Store.read_only(str(store_path))
    else:
        inner = ox.Store(str(store_path))
    graph = Graph(store=OxigraphStore(store=inner), identifier=DATASET_DEFAULT_GRAPH_ID)
    return bind_prefixes(graph)


# ---------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------


def _datetime(value: Any) -> Literal | None:
    if value is None or value == "":
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return Literal(value.isoformat(), datatype=XSD.dateTime)


def provenance_turtle(run: dict[str, Any]) -> str:
    """The PROV-O description of one ingest run, as Turtle for ``extra_turtle``.

    The run is a ``prov:Activity`` that ``prov:used`` each source file (with its
    checksum and row counts) and generated the snapshot.
    """
    graph = bind_prefixes(Graph())
    run_id = str(run["run_id"])
    activity = run_iri(run_id)
    graph.add((activity, RDF.type, CC.IngestRun))
    graph.add((activity, RDF.type, PROV.Activity))
    graph.add((activity, DCTERMS.identifier, Literal(run_id)))
    graph.add((activity, RDFS.label, Literal(f"ingest run {run_id}")))
    for key, predicate in (("started_at", PROV.startedAtTime), ("ended_at", PROV.endedAtTime)):
        stamp = _datetime(run.get(key))
        if stamp is not None:
            graph.add((activity, predicate, stamp))
    graph.add((activity, CC.runOutcome, Literal(str(run.get("outcome") or "unknown"))))
    if run.get("source_dir"):
        graph.add((activity, CC.sourceDirectory, Literal(str(run["source_dir"]))))
    for item in run.get("inputs") or ():
        source = source_file_iri(run_id, str(item["file"]), str(item["entity"]))
        graph.add((activity, PROV.used, source))
        graph.add((source, RDF.type, CC.SourceFile))
        graph.add((source, RDF.type, PROV.Entity))
        graph.add((source, CC.fileName, Literal(str(item["file"]))))
        graph.add((source, CC.sourceEntity, Literal(str(item["entity"]))))
        graph.add((source, CC.sha256, Literal(str(item["sha256"]))))
        for key, predicate in (("rows_in", CC.rowsIn), ("rows_loaded", CC.rowsLoaded),
                               ("rows_quarantined", CC.rowsQuarantined)):
            graph.add((source, predicate, Literal(int(item.get(key) or 0))))
    for reason, count in sorted((run.get("quarantine_by_reason") or {}).items()):
        tally = quarantine_count_iri(run_id, str(reason))
        graph.add((activity, CC.quarantined, tally))
        graph.add((tally, RDF.type, CC.QuarantineCount))
        graph.add((tally, CC.quarantineReason, Literal(str(reason))))
        graph.add((tally, CC.rowsQuarantined, Literal(int(count))))
    if run.get("snapshot_id"):
        snapshot = snapshot_iri(str(run["snapshot_id"]))
        graph.add((snapshot, RDF.type, CC.Snapshot))
        graph.add((snapshot, RDF.type, PROV.Entity))
        graph.add((snapshot, DCTERMS.identifier, Literal(str(run["snapshot_id"]))))
        graph.add((snapshot, PROV.wasGeneratedBy, activity))
        ended = _datetime(run.get("ended_at"))
        if ended is not None:
            graph.add((snapshot, PROV.generatedAtTime, ended))
    return graph.serialize(format="turtle")


# ---------------------------------------------------------------------------
# Validate
# ---------------------------------------------------------------------------


def _target_classes(shapes: Graph) -> list[URIRef]:
    return sorted({c for c in shapes.objects(None, SH.targetClass) if isinstance(c, URIRef)})


def _sample(nodes: Iterable[ox.NamedNode | ox.BlankNode], k: int,
            rng: random.Random) -> list[ox.NamedNode | ox.BlankNode]:
    """Reservoir sample of k nodes (Algorithm R): one pass, bounded memory."""
    chosen: list[ox.NamedNode | ox.BlankNode] = []
    for seen, node in enumerate(nodes):
        if seen < k:
            chosen.append(node)
        else:
            slot = rng.randrange(seen + 1)
            if slot < k:
                chosen[slot] = node
    return chosen


def _violation_messages(results: Graph, limit: int,
                        only: set[URIRef] | None = None) -> tuple[int, list[str]]:
    """Readable violations (only those about the ``only`` nodes when given), sorted."""
    messages = []
    for result in results.subjects(RDF.type, SH.ValidationResult):
        if results.value(result, SH.resultSeverity) != SH.Violation:
            continue
        focus = results.value(result, SH.focusNode)
        if only is not None and focus not in only:
            continue
        path = results.value(result, SH.resultPath)
        value = results.value(result, SH.value)
        text = results.value(result, SH.resultMessage)
        line = f"{focus}"
        if path is not None:
            line += f" {path.n3(results.namespace_manager) if isinstance(path, URIRef) else path}"
        line += f": {text}"
        if value is not None:
            line += f" (value {value.n3(results.namespace_manager)})"
        messages.append(line)
    messages.sort()
    return len(messages), messages[:limit]


def validate_knowledge_graph(
    store_path: Path,
    *,
    sample_per_class: int | None = None,
    seed: int = 0,
    max_messages: int = 20,
) -> ShaclReport:
    """Check the store against ``ontology/shapes.ttl`` with pySHACL.

    ``sample_per_class=None`` validates the whole graph (small snapshots). With a
    number, each shape's target class contributes that many nodes drawn with a
    seeded reservoir sample; the data graph is those nodes' outgoing triples, the
    types of the nodes they point to (so ``sh:class`` can be checked), and the
    ontology, and only violations about the sampled nodes count. (pySHACL's own
    ``focus_nodes`` option is quadratic in the number of nodes, so it is not used.)
    pySHACL costs a few milliseconds per focus node: keep full validation for
    graphs of a few tens of thousands of triples. The report says which mode ran.
    """
    import pyshacl  # heavy import, only needed here

    started = time.perf_counter()
    shapes = load_shapes()
    store = ox.Store.read_only(str(store_path))
    default = ox.DefaultGraph()
    data = Graph()
    if sample_per_class is None:
        mode = "full"
        data.parse(data=store.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=default),
                   format="nt")
        focus: set[URIRef] = set()
        for cls in _target_classes(shapes):
            focus.update(data.subjects(RDF.type, cls))
    else:
        mode = "sample"
        rng = random.Random(seed)
        sampled: list[ox.NamedNode | ox.BlankNode] = []
        for cls in _target_classes(shapes):
            subjects = (q.subject for q in
                        store.quads_for_pattern(None, ox.NamedNode(str(RDF.type)),
                                                ox.NamedNode(str(cls)), default))
            sampled.extend(_sample(subjects, sample_per_class, rng))
        rdf_type = ox.NamedNode(str(RDF.type))
        triples: set[ox.Triple] = set()
        for node in dict.fromkeys(sampled):
            for quad in store.quads_for_pattern(node, None, None, default):
                triples.add(quad.triple)
                if isinstance(quad.object, ox.NamedNode) and quad.predicate != rdf_type:
                    for typed in store.quads_for_pattern(quad.object, rdf_type, None, default):
                        triples.add(typed.triple)
        if triples:
            data.parse(data=ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES), format="nt")
        data += load_ontology()
        focus = {URIRef(n.value) for n in sampled if isinstance(n, ox.NamedNode)}
    del store
    triples_checked = len(data)
    if mode == "sample" and not focus:
        results = Graph()
    else:
        _conforms, results, _text = pyshacl.validate(
            data, shacl_graph=shapes, inference="none", inplace=True, allow_warnings=True,
        )
    count, messages = _violation_messages(results, max_messages,
                                          only=focus if mode == "sample" else None)
    return ShaclReport(
        conforms=count == 0, mode=mode, focus_nodes=len(focus), violations=messages,
        violation_count=count, triples_checked=triples_checked,
        seconds=round(time.perf_counter() - started, 3), sample_per_class=sample_per_class,
    )
