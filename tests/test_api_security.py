"""Security of the API over HTTP: credentials, roles, PII masking, hostile documents, SPARQL."""

from __future__ import annotations

import httpx
import pytest

pytest.register_assert_rewrite("api_fixtures")
from api_fixtures import (  # noqa: E402
    JWT_SECRET,
    KEYS,
    Server,
    data,
    gql,
    msisdn,
    offnet,
    token,
)

pytest_plugins = ["api_fixtures"]

SIMPLE = '{ customer(customerId: "C0001") { customerId } }'


# -- authentication -------------------------------------------------------------------


def _post(server: Server, headers: dict[str, str], query: str = SIMPLE) -> httpx.Response:
    return httpx.post(f"{server.url}/graphql", json={"query": query}, headers=headers,
                      timeout=10)


def test_requests_without_credentials_get_401(api_server: Server) -> None:
    response = _post(api_server, {})
    assert response.status_code == 401
    assert "authentication required" in response.json()["errors"][0]["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(f"{api_server.url}/sparql?query=ASK{{}}").status_code == 401


@pytest.mark.parametrize("headers", [
    {"X-API-Key": "wrong-key"},
    {"Authorization": "Bearer not.a.jwt"},
    {"Authorization": f"Basic {KEYS['admin']}"},
    {"Authorization": f"Bearer {token('admin', secret='another-secret-of-enough-length-0123')}"},
    {"Authorization": f"Bearer {token('admin', issuer='someone-else')}"},
    {"Authorization": f"Bearer {token('admin', expires_in=-3600)}"},
    {"Authorization": f"Bearer {token('root')}"},
], ids=["bad-key", "garbage-token", "basic", "bad-signature", "bad-issuer", "expired",
        "unknown-role"])
def test_bad_credentials_get_401(api_server: Server, headers: dict[str, str]) -> None:
    response = _post(api_server, headers)
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["message"]


def test_api_key_and_jwt_are_accepted(api_server: Server) -> None:
    for headers in ({"X-API-Key": KEYS["app"]}, {"Authorization": f"Bearer {token('analyst')}"}):
        response = _post(api_server, headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"data": {"customer": {"customerId": "C0001"}}}
    assert JWT_SECRET  # the token helper signs with the configured secret


# -- PII masking, field by field ------------------------------------------------------

SUBJECT = """
{ customer(customerId: "C0001") {
    name idNumber address piiMasked
    subscriptions { msisdn }
    topContacts(first: 14) { edges { node { number onNet customer { customerId name address
                                                                      idNumber piiMasked } } } }
} }"""

LISTED = """
{ customers(first: 1) { edges { node {
    customerId name idNumber address piiMasked subscriptions { msisdn }
} } } }"""

NODE = '{ node(id: "U3Vic2NyaXB0aW9uOlMwMDAx") { ... on Subscription { msisdn } } }'  # S0001

CLEAR = {"name": "Zhang Wei 1", "idNumber": "110101198001010001",
         "address": "1 Chang'an Avenue", "msisdns": [msisdn(1), msisdn(1001)]}
MASKED = {"name": "Z***", "idNumber": "***", "address": "***",
          "msisdns": ["+86138****0001", "+86138****1001"]}


def _person(customer: dict) -> dict:
    return {"name": customer["name"], "idNumber": customer["idNumber"],
            "address": customer["address"],
            "msisdns": [s["msisdn"] for s in customer["subscriptions"]]}


@pytest.mark.parametrize(("role", "subject", "listed", "contacts_clear"), [
    ("admin", CLEAR, CLEAR, True),
    ("app", {**CLEAR, "idNumber": "**************0001"}, MASKED, False),
    ("analyst", MASKED, MASKED, False),
])
def test_pii_masking_by_role(api_server: Server, role: str, subject: dict, listed: dict,
                             contacts_clear: bool) -> None:
    with api_server.client(role) as client:
        looked_up = data(client, SUBJECT)["customer"]
        in_list = data(client, LISTED)["customers"]["edges"][0]["node"]
        by_node = data(client, NODE)["node"]
    assert _person(looked_up) == subject
    assert looked_up["piiMasked"] is (subject is MASKED)
    assert in_list["customerId"] == "C0001"
    assert _person(in_list) == listed
    assert in_list["piiMasked"] is (listed is MASKED)
    # a line looked up by its own id is that customer's business, like the customer
    assert by_node["msisdn"] == subject["msisdns"][0]
    contacts = [edge["node"] for edge in looked_up["topContacts"]["edges"]]
    numbers = {node["number"] for node in contacts}
    if contacts_clear:
        assert {msisdn(2), offnet(1, 7)} <= numbers
    else:
        assert {"+86138****0002", "+86186****1007"} <= numbers
        assert not any(n.startswith("+86138000") or n.startswith("+86186000") for n in numbers)
    neighbour = next(n["customer"] for n in contacts if n["onNet"])
    if contacts_clear:
        assert neighbour["name"].startswith("Zhang Wei") and not neighbour["piiMasked"]
    else:  # another person: masked even for the app looking up its customer
        assert neighbour["name"] == "Z***" and neighbour["address"] == "***"
        assert neighbour["idNumber"] == "***" and neighbour["piiMasked"]


# -- hostile documents ----------------------------------------------------------------


def test_depth_bomb_is_rejected(api_server: Server) -> None:
    nested = "customerId"
    for _ in range(6):
        nested = f"subscriptions {{ customer {{ {nested} }} }}"
    query = f'{{ customer(customerId: "C0001") {{ {nested} }} }}'
    with api_server.client("admin") as client:
        body = gql(client, query)
    assert body["data"] is None
    assert "exceeds maximum operation depth of 8" in body["errors"][0]["message"]


def test_alias_bomb_is_rejected(api_server: Server) -> None:
    aliases = " ".join(f'a{i}: customer(customerId: "C0001") {{ customerId }}'
                       for i in range(50))
    with api_server.client("admin") as client:
        body = gql(client, f"{{ {aliases} }}")
    assert body["data"] is None
    assert "aliases found" in body["errors"][0]["message"].lower()


def test_token_bomb_is_rejected(api_server: Server) -> None:
    query = "{ " + "__typename " * 1600 + "}"
    with api_server.client("admin") as client:
        body = gql(client, query)
    assert body["data"] is None
    assert "more than 1500 tokens" in body["errors"][0]["message"]


def test_paging_amplification_is_rejected(api_server: Server) -> None:
    query = """{ customers(first: 100) { edges { node { topContacts(first: 100) {
        edges { node { customer { customerId name region } } } } } } } }"""
    with api_server.client("admin") as client:
        body = gql(client, query)
    assert body["data"] is None
    assert "Query too costly" in body["errors"][0]["message"]


def test_huge_page_is_rejected(api_server: Server) -> None:
    with api_server.client("admin") as client:
        body = gql(client, "{ customers(first: 100000) { edges { node { customerId } } } }")
        assert "`first` must be between 0 and 100" in body["errors"][0]["message"]
        body = gql(client, '{ customer(customerId: "C0001") { topContacts(first: 1000) '
                           "{ totalCount } } }")
        assert "`first` must be between 0 and 100" in body["errors"][0]["message"]


def test_oversized_body_is_rejected_with_413(api_server: Server) -> None:
    padding = "#" + "x" * 30000 + "\n"
    with api_server.client("admin") as client:
        response = client.post("/graphql", json={"query": padding + SIMPLE})
        assert response.status_code == 413
        assert "larger than 20000 bytes" in response.json()["errors"][0]["message"]

        def chunks():  # no Content-Length: the limit applies while reading
            for _ in range(40):
                yield b"x" * 1000

        response = client.post("/graphql", content=chunks(),
                               headers={"content-type": "application/json"})
        assert response.status_code == 413


def test_errors_do_not_leak_internals(api_server: Server) -> None:
    with api_server.client("admin") as client:
        body = gql(client, '{ customers(after: "bm90IGpzb24") { edges { cursor } } }')
        assert body["errors"][0]["message"] == "malformed cursor"
        body = gql(client, "{ customer(customerId: 12) { nope } }")
        text = str(body)
        assert "Traceback" not in text and "SELECT" not in text
        response = client.post("/graphql", content=b"{not json",
                               headers={"content-type": "application/json"})
        assert response.status_code == 400 and "Traceback" not in response.text


# -- SPARQL ---------------------------------------------------------------------------


def _sparql(server: Server, role: str, **kwargs: object) -> httpx.Response:
    with server.client(role) as client:
        return client.request(kwargs.pop("method", "GET"), "/sparql", **kwargs)  # type: ignore[arg-type]


def test_sparql_select_for_analysts(api_server: Server) -> None:
    query = ("SELECT ?c ?r WHERE { ?c <https://callcircle.example/region> ?r } "
             "ORDER BY ?c LIMIT 5")
    response = _sparql(api_server, "analyst", params={"query": query})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/sparql-results+json")
    bindings = response.json()["results"]["bindings"]
    assert len(bindings) == 5
    assert bindings[0]["c"] == {"type": "uri",
                                "value": "https://callcircle.example/customer/C0001"}
    response = _sparql(api_server, "admin", method="POST", content="ASK { ?s ?p ?o }",
                       headers={"content-type": "application/sparql-query"})
    assert response.json()["boolean"] is True
    # the project's prefixes (cc:, id:, prov:, …) need no declaration
    response = _sparql(api_server, "analyst", params={"query": "ASK { ?s cc:nothing ?o }"})
    assert response.status_code == 200 and response.json()["boolean"] is False


def test_sparql_refused_to_apps(api_server: Server) -> None:
    assert _sparql(api_server, "app", params={"query": "ASK {}"}).status_code == 403


@pytest.mark.parametrize("kwargs", [
    {"params": {"query": "INSERT DATA { <urn:a> <urn:b> <urn:c> }"}},
    {"params": {"query": "PREFIX x: <urn:x>\nDELETE WHERE { ?s ?p ?o }"}},
    {"params": {"update": "DELETE WHERE { ?s ?p ?o }"}},
    {"method": "POST", "data": {"update": "CLEAR ALL"}},
    {"method": "POST", "content": "DROP ALL",
     "headers": {"content-type": "application/sparql-update"}},
], ids=["insert-as-query", "delete-as-query", "update-param", "update-form", "update-body"])
def test_sparql_update_is_refused(api_server: Server, kwargs: dict) -> None:
    response = _sparql(api_server, "admin", **kwargs)
    assert response.status_code == 403, response.text
    assert "read-only" in response.json()["error"]
    count = _sparql(api_server, "admin", params={"query": "SELECT (COUNT(*) AS ?n) "
                                                            "WHERE { ?s ?p ?o }"})
    assert count.json()["results"]["bindings"][0]["n"]["value"] == "30"


def test_sparql_limits_and_bad_queries(api_server: Server) -> None:
    too_many = _sparql(api_server, "analyst", params={"query": "SELECT * WHERE { ?s ?p ?o }"})
    assert too_many.status_code == 422 and "more than 20 results" in too_many.json()["error"]
    bad = _sparql(api_server, "analyst", params={"query": "SELECT WHERE {"})
    assert bad.status_code == 400 and "not a valid" in bad.json()["error"]


def test_mutations_check_the_role_over_http(api_server: Server) -> None:
    with api_server.client("analyst") as client:
        body = gql(client, 'mutation { saveTagRule(tag: "x", expression: "y") { version } }')
    assert "needs the admin role" in body["errors"][0]["message"]
    with api_server.client("app") as client:
        body = gql(client, 'mutation { recordCampaignResponses(responses: []) { recorded } }')
        assert "needs the analyst or admin role" in body["errors"][0]["message"]
        via_get = client.get("/graphql", params={"query": "{ snapshot { id } }"})
        assert via_get.status_code in (400, 405)  # no queries (nor mutations) via GET
