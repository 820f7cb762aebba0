"""``/sparql``: read-only SPARQL 1.1 over the snapshot's knowledge graph.

For the ``analyst`` and ``admin`` roles. The text is parsed first and only a query
form (SELECT, ASK, CONSTRUCT, DESCRIBE) is accepted; anything that parses as SPARQL
Update is refused with 403 — and the store is opened read-only besides. Results are
capped in rows and time: the query runs in a worker thread that stops iterating at
the row limit or the deadline; the client gets 422 or 504 instead of a huge or slow
answer. (Oxigraph cannot abort a single long evaluation step; the thread then
finishes on its own while the client already has its 504.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import parse_qs

import pyoxigraph as ox
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.auth import Principal, Role
from api.middleware import PRINCIPAL
from api.settings import Limits
from api.snapshots import SnapshotHolder

log = logging.getLogger("callcircle.api.sparql")

RESULTS_JSON = "application/sparql-results+json"


class TooManyResults(Exception):
    pass


class DeadlineExceeded(Exception):
    pass


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def classify(text: str) -> str:
    """``query`` if ``text`` is a SPARQL query, ``update`` if an update; else ValueError."""
    from rdflib.plugins.sparql.parser import parseQuery, parseUpdate  # slow import, rare use

    try:
        parseQuery(text)
        return "query"
    except Exception:
        pass
    try:
        parseUpdate(text)
    except Exception:
        raise ValueError("not a valid SPARQL 1.1 query") from None
    return "update"


def _term(term: Any) -> dict[str, str]:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        out = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
            out["datatype"] = term.datatype.value
        return out
    return {"type": "triple", "value": str(term)}


def run_query(store: Any, text: str, max_rows: int, deadline: float,
              prefixes: dict[str, str] | None = None) -> tuple[str, bytes]:
    """Execute and serialise, row by row, within the limits (runs in a worker thread)."""
    import json

    result = store.query(text, prefixes=prefixes or None)
    if isinstance(result, ox.QueryBoolean):
        return RESULTS_JSON, json.dumps({"head": {}, "boolean": bool(result)}).encode()
    if isinstance(result, ox.QuerySolutions):
        names = [variable.value for variable in result.variables]
        bindings = []
        for solution in result:
            if len(bindings) >= max_rows:
                raise TooManyResults
            if time.monotonic() > deadline:
                raise DeadlineExceeded
            row = {}
            for name in names:
                value = solution[name]
                if value is not None:
                    row[name] = _term(value)
            bindings.append(row)
        body = {"head": {"vars": names}, "results": {"bindings": bindings}}
        return RESULTS_JSON, json.dumps(body).encode()
    lines = []
    for triple in result:
        if len(lines) >= max_rows:
            raise TooManyResults
        if time.monotonic() > deadline:
            raise DeadlineExceeded
        lines.append(f"{triple.subject} {triple.predicate} {triple.object} .")
    return "application/n-triples", ("\n".join(lines) + "\n").encode()


class SparqlEndpoint:
    def __init__(self, holder: SnapshotHolder, limits: Limits) -> None:
        self.holder = holder
        self.limits = limits

    async def handle(self, request: Request) -> Response:
        principal: Principal = request.scope[PRINCIPAL]
        if not principal.role.at_least(Role.ANALYST):
            return _error(403, "SPARQL needs the analyst or admin role")
        text, error = await self._query_text(request)
        if error is not None:
            return error
        assert text is not None
        try:
            kind = classify(text)
        except ValueError as exc:
            return _error(400, str(exc))
        if kind != "query":
            return _error(403, "SPARQL Update is refused: this endpoint is read-only")
        snapshot = self.holder.lease()
        if snapshot is None:
            return _error(503, "no snapshot published yet")
        try:
            try:
                store, prefixes = snapshot.knowledge_store()
            except FileNotFoundError:
                return _error(404, "this snapshot has no knowledge graph")
            timeout = self.limits.sparql_timeout_s
            deadline = time.monotonic() + timeout
            try:
                media_type, body = await asyncio.wait_for(
                    asyncio.to_thread(run_query, store, text, self.limits.sparql_max_rows,
                                      deadline, prefixes),
                    timeout,
                )
            except (TimeoutError, DeadlineExceeded):
                return _error(504, f"query took longer than {timeout:g} s")
            except TooManyResults:
                return _error(422, f"more than {self.limits.sparql_max_rows} results; "
                                   "add a LIMIT or narrow the query")
            except SyntaxError:
                return _error(400, "query not supported by the store")
            except Exception:
                log.exception("SPARQL query failed")
                return _error(500, "query failed; it has been logged")
            return Response(body, media_type=media_type)
        finally:
            snapshot.release()

    @staticmethod
    async def _query_text(request: Request) -> tuple[str | None, Response | None]:
        if request.method == "GET":
            if "update" in request.query_params:
                return None, _error(403, "SPARQL Update is refused: this endpoint is read-only")
            query = request.query_params.get("query")
        else:
            content_type = request.headers.get("content-type", "").split(";")[0].strip()
            raw = (await request.body()).decode("utf-8", errors="replace")
            if content_type == "application/sparql-query":
                query = raw
            elif content_type == "application/x-www-form-urlencoded":
                form = parse_qs(raw)
                if "update" in form:
                    return None, _error(
                        403, "SPARQL Update is refused: this endpoint is read-only")
                query = (form.get("query") or [None])[0]
            elif content_type == "application/sparql-update":
                return None, _error(403, "SPARQL Update is refused: this endpoint is read-only")
            else:
                return None, _error(415, "send application/sparql-query or a form")
        if not query:
            return None, _error(400, "missing `query`")
        return query, None
