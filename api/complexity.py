"""A cost limit: how many fields a document may make the server resolve, at most.

Depth and alias limits do not stop amplification by paging: three nested
connections of ``first: 100`` ask for a million nodes in a few lines. Before
execution, each field is counted with the product of the ``first`` arguments of the
connections above it (a variable counts as its default, or as the maximum page size;
a missing ``first`` as the schema default). Plain lists count once: they are short
(lines of a customer, channels, influencers, referrers).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
)


def cost_limit_rule(max_cost: int, max_page_size: int) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.defaults: dict[str, Any] = {}

        def enter_operation_definition(self, node: OperationDefinitionNode,
                                       *_: Any) -> None:
            self.defaults = {
                d.variable.name.value: d.default_value.value
                for d in node.variable_definitions or ()
                if isinstance(d.default_value, IntValueNode)
            }
            root = self.context.schema.get_root_type(node.operation)
            if root is None:
                return
            cost = self._cost(node.selection_set, root, 1, set())
            if cost > max_cost:
                self.report_error(GraphQLError(
                    f"Query too costly: about {cost} fields to resolve, at most {max_cost} "
                    "allowed; ask for smaller pages (`first`) or nest fewer connections.",
                    node))

        def _cost(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType,
                  factor: int, seen: set[str]) -> int:
            if selection_set is None:
                return 0
            total = 0
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    total += factor
                    fields = getattr(parent, "fields", None) or {}
                    definition = fields.get(selection.name.value)
                    if definition is None:  # __typename, or left to the other rules
                        continue
                    child = get_named_type(definition.type)
                    total += self._cost(selection.selection_set, child,
                                        factor * self._first(selection, definition), seen)
                elif isinstance(selection, InlineFragmentNode):
                    target = parent
                    if selection.type_condition is not None:
                        target = self.context.schema.get_type(
                            selection.type_condition.name.value) or parent
                    total += self._cost(selection.selection_set, target, factor, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.context.get_fragment(name)
                    if fragment is None or name in seen:  # cycles: another rule's error
                        continue
                    target = self.context.schema.get_type(fragment.type_condition.name.value)
                    total += self._cost(fragment.selection_set,
                                        target if isinstance(target, GraphQLObjectType)
                                        else parent, factor, seen | {name})
            return total

        def _first(self, node: FieldNode, definition: Any) -> int:
            argument = definition.args.get("first")
            if argument is None:
                return 1
            for given in node.arguments or ():
                if given.name.value != "first":
                    continue
                if isinstance(given.value, IntValueNode):  # above the page size: refused later
                    return min(max(1, int(given.value.value)), max_page_size)
                if isinstance(given.value, VariableNode):
                    default = self.defaults.get(given.value.name.value)
                    return (min(max(1, int(default)), max_page_size) if default is not None
                            else max_page_size)
                return max_page_size
            default = argument.default_value
            return max(1, int(default)) if isinstance(default, int) else max_page_size

    return CostLimit
