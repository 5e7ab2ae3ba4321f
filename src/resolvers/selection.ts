import type { GraphQLResolveInfo, SelectionSetNode } from "graphql";

/**
 * Whether the operation asks for a field named `name` anywhere below the resolved field, through
 * fragments and inline fragments alike (directives are not evaluated: a field under
 * `@include(if: false)` counts as asked for, which only costs the work it would have needed).
 */
export function selectsField(info: GraphQLResolveInfo, name: string): boolean {
  const seen = new Set<string>();
  const visit = (set: SelectionSetNode | undefined): boolean => {
    for (const sel of set?.selections ?? []) {
      if (sel.kind === "Field") {
        if (sel.name.value === name || visit(sel.selectionSet)) return true;
      } else if (sel.kind === "InlineFragment") {
        if (visit(sel.selectionSet)) return true;
      } else if (!seen.has(sel.name.value)) {
        seen.add(sel.name.value);
        if (visit(info.fragments[sel.name.value]?.selectionSet)) return true;
      }
    }
    return false;
  };
  return info.fieldNodes.some((node) => visit(node.selectionSet));
}
