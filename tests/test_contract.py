from pathlib import Path

from ingest.contract import ENTITIES, ENTITY_ORDER, contract_markdown

DOC = Path(__file__).parent.parent / "docs" / "source-contract.md"


def test_contract_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == contract_markdown(), (
        "docs/source-contract.md is stale: "
        "run `python -m ingest.contract > docs/source-contract.md`"
    )


def test_references_point_backwards_in_load_order() -> None:
    for position, name in enumerate(ENTITY_ORDER):
        entity = ENTITIES[name]
        for key in entity.key:
            entity.column(key)
        for column in entity.columns:
            if column.references:
                target, target_column = column.references.split(".")
                assert ENTITY_ORDER.index(target) <= position, (name, column.name)
                ENTITIES[target].column(target_column)
            assert (column.kind in ("enum", "list")) == bool(column.values), column.name
