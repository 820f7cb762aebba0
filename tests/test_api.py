"""The GraphQL service over HTTP: customer 360, lists, paging, nodes, dataloaders, SDL."""

from __future__ import annotations

import re

import httpx
import pytest

from api.schema import SDL_PATH, sdl

pytest.register_assert_rewrite("api_fixtures")
from api_fixtures import (  # noqa: E402
    CUTOFFS,
    N_CUSTOMERS,
    TIERS,
    Server,
    circle_of,
    customer_id,
    data,
    gql,
    msisdn,
    offnet,
    risk_of,
)

pytest_plugins = ["api_fixtures"]

CUSTOMER_360 = """
query($id: String!) {
  customer(customerId: $id) {
    id customerId customerType name region joinDate doNotContact piiMasked
    subscriptions { id subscriptionId msisdn status startDate endDate product { productId name } }
    plans { productId name monthlyFee }
    channelHistory { channel contacts lastContactAt lastCategory lastOutcome }
    bills { bills months firstPeriod lastPeriod lastMonthTotal averageMonthlyTotal arrears }
    topContacts(first: 5) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges {
        cursor
        node { number onNet operator weight callsOut callsIn sms customer { customerId } }
      }
    }
  }
}
"""


def test_health_endpoints_need_no_credentials(api_server: Server) -> None:
    with api_server.client(role=None) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["snapshot"].startswith("s")


def test_customer_360_by_id(api_server: Server) -> None:
    with api_server.client("admin") as client:
        customer = data(client, CUSTOMER_360, id="C0001")["customer"]
    assert customer["customerId"] == "C0001" and customer["name"] == "Zhang Wei 1"
    assert customer["piiMasked"] is False
    subscriptions = customer["subscriptions"]
    assert [s["status"] for s in subscriptions] == ["active", "terminated"]
    assert subscriptions[0]["msisdn"] == msisdn(1)
    assert subscriptions[0]["product"] == {"productId": "P2", "name": "Family 88"}
    assert [p["productId"] for p in customer["plans"]] == ["P2"]  # terminated line left out
    channels = {c["channel"]: c for c in customer["channelHistory"]}
    assert set(channels) == {"call_centre", "app"}
    assert channels["app"]["contacts"] == 2
    assert channels["app"]["lastCategory"] == "complaint"
    bills = customer["bills"]
    assert bills["bills"] == 3 and bills["months"] == 3
    assert bills["firstPeriod"] == "2026-01-01" and bills["lastPeriod"] == "2026-03-01"
    assert bills["lastMonthTotal"] == 42.0 and bills["arrears"] == 0.0
    contacts = customer["topContacts"]
    assert contacts["totalCount"] == 14 and contacts["pageInfo"]["hasNextPage"]
    weights = [edge["node"]["weight"] for edge in contacts["edges"]]
    assert weights == sorted(weights, reverse=True)
    numbers = {edge["node"]["number"] for edge in contacts["edges"]}
    assert msisdn(1001) not in numbers  # the customer's own second line is no contact
    first = contacts["edges"][0]["node"]
    assert first["onNet"] is False and first["operator"] == "China Telecom"
    assert first["customer"] is None


def test_customer_by_number_and_arrears(api_server: Server) -> None:
    query = "query($n: String!) { customer(msisdn: $n) { customerId bills { arrears } } }"
    with api_server.client("analyst") as client:
        assert data(client, query, n=msisdn(10))["customer"] == {
            "customerId": "C0010", "bills": {"arrears": 50.0}}
        # a terminated line's number still finds its last holder
        assert data(client, query, n=msisdn(1001))["customer"]["customerId"] == "C0001"
        assert data(client, query, n="+8613999999999")["customer"] is None
        body = gql(client, '{ customer(customerId: "C0001", msisdn: "+1") { customerId } }')
        assert "exactly one" in body["errors"][0]["message"]


def test_top_contacts_paged_to_the_end(api_server: Server) -> None:
    query = """
    query($after: String) {
      customer(customerId: "C0001") {
        topContacts(first: 4, after: $after) {
          totalCount
          pageInfo { hasNextPage hasPreviousPage endCursor }
          edges { cursor node { number weight onNet customer { customerId } } }
        }
      }
    }"""
    seen, after, pages = [], None, 0
    with api_server.client("admin") as client:
        while True:
            page = data(client, query, after=after)["customer"]["topContacts"]
            pages += 1
            seen += [edge["node"] for edge in page["edges"]]
            assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    assert pages == 4 and len(seen) == 14
    assert len({node["number"] for node in seen}) == 14
    assert [n["weight"] for n in seen] == sorted((n["weight"] for n in seen), reverse=True)
    on_net = {n["customer"]["customerId"] for n in seen if n["onNet"]}
    assert on_net == {customer_id(i) for i in (2, 3, 4, 148, 149, 150)}


def test_customers_paged_to_the_end_with_filter_and_order(api_server: Server) -> None:
    query = """
    query($after: String) {
      customers(first: 7, after: $after, filter: {region: ["Beijing"]},
                orderBy: {field: JOIN_DATE, direction: DESC}) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { node { customerId region joinDate } }
      }
    }"""
    seen, after = [], None
    with api_server.client("analyst") as client:
        while True:
            page = data(client, query, after=after)["customers"]
            assert page["totalCount"] == N_CUSTOMERS // 3
            seen += [edge["node"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    assert len(seen) == N_CUSTOMERS // 3 == len({n["customerId"] for n in seen})
    assert {n["region"] for n in seen} == {"Beijing"}
    dates = [n["joinDate"] for n in seen]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize(("filter_", "expected"), [
    ('{plan: ["P2"]}', {customer_id(i) for i in range(1, N_CUSTOMERS + 1) if i % 3 == 1}),
    ("{customerType: [ENTERPRISE, GROUP]}",
     {customer_id(i) for i in range(1, N_CUSTOMERS + 1) if i % 10 in (8, 9)}),
    ('{plan: ["P1"], region: ["Beijing"], customerType: [INDIVIDUAL]}',
     {customer_id(i) for i in range(1, N_CUSTOMERS + 1) if i % 3 == 0 and i % 10 < 8}),
    ('{region: ["Atlantis"]}', set()),
    ('{tier: ["top"], segment: ["0"], minRisk: 0.2}',
     {customer_id(i) for i in range(1, N_CUSTOMERS + 1)
      if i % 5 == 0 and i % 3 == 0 and risk_of(i) >= 0.2}),
    ('{tag: ["even", "old"], region: ["Beijing"]}',
     {customer_id(i) for i in range(1, N_CUSTOMERS + 1) if i % 2 == 0 and i % 3 == 0}),
    ('{tag: ["at_risk"]}',
     {customer_id(i) for i in range(1, N_CUSTOMERS + 1) if risk_of(i) >= 0.5}),
    ('{circle: ["3"], maxRisk: 0.5}',
     {customer_id(i) for i in range(1, N_CUSTOMERS + 1)
      if circle_of(i) == 3 and risk_of(i) <= 0.5}),
])
def test_customer_filters(api_server: Server, filter_: str, expected: set[str]) -> None:
    query = (f"{{ customers(first: 100, filter: {filter_}) "
             "{ totalCount edges { node { customerId } } } }")
    with api_server.client("analyst") as client:
        page = data(client, query)["customers"]
    assert {edge["node"]["customerId"] for edge in page["edges"]} == expected
    assert page["totalCount"] == len(expected)


def test_node_lookups(api_server: Server) -> None:
    with api_server.client("admin") as client:
        customer = data(client, CUSTOMER_360, id="C0002")["customer"]
        query = """query($id: ID!) { node(id: $id) { __typename id
            ... on Customer { customerId } ... on Subscription { subscriptionId msisdn }
            ... on Product { productId } } }"""
        node = data(client, query, id=customer["id"])["node"]
        assert node == {"__typename": "Customer", "id": customer["id"], "customerId": "C0002"}
        subscription = customer["subscriptions"][0]
        node = data(client, query, id=subscription["id"])["node"]
        assert node["subscriptionId"] == "S0002" and node["msisdn"] == msisdn(2)
        product_id = "UHJvZHVjdDpQMw"  # Product:P3
        node = data(client, query, id=product_id)["node"]
        assert node == {"__typename": "Product", "id": product_id, "productId": "P3"}
        assert data(client, query, id="Q3VzdG9tZXI6Tk9QRQ")["node"] is None  # Customer:NOPE
        for bad in ("not-a-global-id!", "Rm9vOmJhcg"):  # garbage; Foo:bar
            message = gql(client, query, id=bad)["errors"][0]["message"]
            assert "global id" in message or "unknown node type" in message


def test_snapshot_metadata(api_server: Server) -> None:
    with api_server.client("app") as client:
        snapshot = data(client, "{ snapshot { id loadedAt manifest tables } }")["snapshot"]
        ready = client.get("/readyz").json()
    assert snapshot["id"] == ready["snapshot"]
    assert snapshot["manifest"] == {"run_id": "api-test", "variant": 0}
    assert {"customers", "call_edges", "bills"} <= set(snapshot["tables"])


def _warehouse_queries(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    match = re.search(r"^callcircle_warehouse_queries_total (\S+)$", text, re.M)
    assert match, text
    return float(match.group(1))


LIST_QUERY = """
query($n: Int!) {
  customers(first: $n) {
    edges { node {
      customerId name
      churnRisk { probability reasons } value { valueTier clv } segment { profile }
      circle { size influencers { number } }
      subscriptions { msisdn product { name } }
      plans { name }
      bills { arrears lastMonthTotal }
      channelHistory { channel lastContactAt }
      topContacts(first: 3) {
        totalCount edges { node { number weight customer { customerId name } } }
      }
    } }
  }
}"""


def test_dataloaders_bound_the_number_of_warehouse_queries(api_server: Server) -> None:
    counts = {}
    with api_server.client("admin") as client:
        for n in (10, 100):
            before = _warehouse_queries(client)
            page = data(client, LIST_QUERY, n=n)["customers"]["edges"]
            counts[n] = _warehouse_queries(client) - before
            assert len(page) == n
            assert all(edge["node"]["bills"] is not None for edge in page)
            assert all(edge["node"]["topContacts"]["edges"] for edge in page)
    # page, lines, products, bills, channels, contacts, contacts' customers, churn, value,
    # segment members, segments, circle memberships, circles, influencers
    assert counts[100] == counts[10] <= 14, counts


def test_metrics_exposes_requests_and_snapshot(api_server: Server) -> None:
    with api_server.client(role=None) as client:
        text = client.get("/metrics").text
        ready = client.get("/readyz").json()
    assert f'callcircle_snapshot_info{{snapshot_id="{ready["snapshot"]}"}} 1.0' in text
    assert 'callcircle_http_requests_total{method="POST",path="/graphql",status="200"}' in text
    assert "callcircle_http_request_duration_seconds_bucket" in text


def test_sdl_file_is_up_to_date() -> None:
    assert SDL_PATH.read_text(encoding="utf-8") == sdl(), (
        "the schema changed: run `python -m api.schema` and commit api/schema.graphql")


INSIGHT = """
query($id: String!) {
  customer(customerId: $id) {
    churnRisk { probability riskRank riskDecile reasons modelId cutoff subscriptionId }
    value { cutoff lines monthlyRevenue clv networkValue valueTier churnRisk }
    segment { id segmentId profile subscribers }
    circle { id circleId size density churnRate totalValue dominantPlan
             influencers { number isInfluencer customer { customerId } } }
    subscriptions { subscriptionId churnRisk { probability } graphFeatures { degree } }
    graphFeatures { cutoff degree pagerank churnActivation circleId betweenness }
    tags
  }
}"""


def test_customer_insight_fields_come_from_the_latest_cutoff(api_server: Server) -> None:
    with api_server.client("admin") as client:
        customer = data(client, INSIGHT, id="C0005")["customer"]
    risk = customer["churnRisk"]
    assert risk["probability"] == risk_of(5) and risk["modelId"] == "model-1"
    assert risk["cutoff"] == str(CUTOFFS[-1]) and risk["subscriptionId"] == "S0005"
    assert risk["reasons"] == ["falling usage", "friends left"]
    assert customer["subscriptions"][0]["churnRisk"] == {"probability": risk_of(5)}
    assert customer["subscriptions"][0]["graphFeatures"] == {"degree": 4.0}
    assert customer["tags"] == (["at_risk"] if risk_of(5) >= 0.5 else [])  # latest period
    assert customer["graphFeatures"] == {
        "cutoff": str(CUTOFFS[-1]), "degree": 4.0, "pagerank": 1 / 6,
        "churnActivation": 0.05, "circleId": "1", "betweenness": None}
    value = customer["value"]
    assert value["valueTier"] == TIERS[0] and value["clv"] == 905.0
    assert customer["segment"]["segmentId"] == "2"
    assert customer["segment"]["profile"] == "quiet lines"
    circle = customer["circle"]
    assert circle["circleId"] == str(circle_of(5)) and circle["size"] == 10
    assert [m["customer"]["customerId"] for m in circle["influencers"]] == ["C0001"]


def test_churn_risks_circles_and_segments(api_server: Server) -> None:
    churn = """query($after: String) { churnRisks(first: 40, after: $after, minRisk: 0.5) {
        pageInfo { hasNextPage endCursor }
        edges { node { probability riskRank customer { customerId } } } } }"""
    seen, after = [], None
    with api_server.client("analyst") as client:
        while True:
            page = data(client, churn, after=after)["churnRisks"]
            seen += [edge["node"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        expected = sorted((risk_of(i) for i in range(1, N_CUSTOMERS + 1)
                           if risk_of(i) >= 0.5), reverse=True)
        assert [n["probability"] for n in seen] == expected
        assert [n["riskRank"] for n in seen] == list(range(1, len(expected) + 1))

        circles = """query($after: String) { circles(first: 4, after: $after,
            orderBy: TOTAL_VALUE) { pageInfo { hasNextPage endCursor }
            edges { node { id circleId totalValue } } } }"""
        ids, after = [], None
        while True:
            page = data(client, circles, after=after)["circles"]
            ids += [edge["node"]["circleId"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert ids == [str(c) for c in range(15, 0, -1)]

        members = """{ circle(circleId: "2") { id members(first: 4) { totalCount
            edges { node { number pagerank customer { customerId } } } } } }"""
        circle = data(client, members)["circle"]
        assert circle["members"]["totalCount"] == 10
        pageranks = [e["node"]["pagerank"] for e in circle["members"]["edges"]]
        assert pageranks == sorted(pageranks, reverse=True)
        assert all(e["node"]["number"].startswith("+86138****")
                   for e in circle["members"]["edges"])

        node = data(client, "query($id: ID!) { node(id: $id) { ... on CallCircle { size } } }",
                    id=circle["id"])["node"]
        assert node == {"size": 10}
        segments = data(client, "{ segments { id segmentId profile subscribers } }")["segments"]
        assert [s["profile"] for s in segments] == ["heavy callers", "data lovers",
                                                   "quiet lines"]
        node = data(client, "query($id: ID!) { node(id: $id) { ... on Segment { profile } } }",
                    id=segments[1]["id"])["node"]
        assert node == {"profile": "data lovers"}


def test_prospects_with_referrers(api_server: Server) -> None:
    query = """query($after: String) { prospects(first: 6, after: $after, minCustomers: 2) {
        pageInfo { hasNextPage endCursor }
        edges { node { number operator distinctCustomers score
                       referrers { number weight customer { customerId } } } } } }"""
    seen, after = [], None
    with api_server.client("admin") as client:
        while True:
            page = data(client, query, after=after)["prospects"]
            seen += [edge["node"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        masked = data(api_server.client("analyst"), query)["prospects"]["edges"][0]["node"]
    expected = [i for i in range(1, 21) if 1 + i % 4 >= 2]
    assert [n["number"] for n in seen] == [offnet(i, 0) for i in expected]
    assert [n["score"] for n in seen] == [100.0 - i for i in expected]
    assert seen[0]["referrers"] == [{"number": msisdn(1), "weight": 2.0,
                                     "customer": {"customerId": "C0001"}}]
    assert masked["number"] == "+86186****1000"
    assert masked["referrers"][0]["number"] == "+86138****0001"


def test_customer_360_is_two_warehouse_queries(api_server: Server) -> None:
    """Profile, lines, plans, channels, bills and contacts come from the customer's card;
    the second query reads the on-net contacts' own profiles."""
    with api_server.client("app") as client:
        data(client, CUSTOMER_360, id="C0003")  # warm: products are held in memory
        before = _warehouse_queries(client)
        customer = data(client, CUSTOMER_360, id="C0004")["customer"]
        assert _warehouse_queries(client) - before == 2
    assert customer["customerId"] == "C0004" and customer["subscriptions"]
    assert customer["topContacts"]["totalCount"] == 8


def test_customer_card_reads_as_the_tables_do(api_server: Server) -> None:
    """The card (one JSON text per customer) gives the same values and types — dates,
    timestamps, amounts — as the per-table reads a list query makes."""
    fields = """customerId name region joinDate
        subscriptions { subscriptionId msisdn status startDate endDate }
        channelHistory { channel contacts lastContactAt lastCategory lastOutcome }
        bills { bills months firstPeriod lastPeriod lastMonthTotal averageMonthlyTotal
                totalBilled arrears }
        topContacts(first: 5) { totalCount edges { node { number onNet weight lastContact
                                                          callsOut seconds } } }"""
    with api_server.client("admin") as client:
        card = data(client, f"query {{ customer(customerId: \"C0001\") {{ {fields} }} }}")
        listed = data(client,
                      f"query {{ customers(first: 1) {{ edges {{ node {{ {fields} }} }} }} }}")
    from_card = card["customer"]
    assert from_card == listed["customers"]["edges"][0]["node"]
    assert from_card["subscriptions"][0]["startDate"] == "2021-01-01"
    last_contact = from_card["channelHistory"][0]["lastContactAt"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", last_contact)


def test_customer_parts_without_prefetch(api_server: Server) -> None:
    """`node(id)` starts no loads ahead: lines, channels and bills are read as the fields
    resolve, and agree with the customer-360 lookup that reads them ahead."""
    fields = """subscriptions { subscriptionId status startDate }
        channelHistory { channel contacts lastContactAt } bills { months arrears }"""
    with api_server.client("admin") as client:
        customer = data(client, f"{{ customer(customerId: \"C0001\") {{ id {fields} }} }}")
        by_node = f"query($id: ID!) {{ node(id: $id) {{ ... on Customer {{ {fields} }} }} }}"
        node = data(client, by_node, id=customer["customer"]["id"])["node"]
    assert node == {key: value for key, value in customer["customer"].items() if key != "id"}
    assert node["subscriptions"] and node["channelHistory"] and node["bills"]["months"] == 3
