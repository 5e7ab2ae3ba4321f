import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  getOperationAST,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "graphql";
import { getArgumentValues, getVariableValues } from "graphql/execution/values";
import type { RootField } from "../auth/policy";
import { badInput } from "../domain/errors";

/**
 * The root fields an operation would run (fragments and inline fragments at the root followed,
 * `@skip`/`@include` ignored: a field that might run is checked), with their arguments. Introspection
 * fields (`__schema`, `__type`, `__typename`) are left out: introspection is turned on or off as a whole.
 */
export function rootFields(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  rawVariables: Record<string, unknown> | null | undefined,
): RootField[] {
  const operation = getOperationAST(document, operationName);
  if (!operation) return []; // execution reports the missing or ambiguous operation
  const type = schema.getRootType(operation.operation);
  if (!type) return [];
  const variables = coerceVariables(schema, operation, rawVariables);
  const out: RootField[] = [];
  for (const node of rootFieldNodes(document, operation)) {
    const name = node.name.value;
    if (name.startsWith("__")) continue;
    const def = type.getFields()[name];
    if (!def) continue; // validation already refused an unknown field
    out.push({ coordinate: `${type.name}.${name}`, args: getArgumentValues(def, node, variables) });
  }
  return out;
}

/** The field nodes at the operation's root, fragments and inline fragments followed. */
function rootFieldNodes(document: DocumentNode, operation: OperationDefinitionNode): FieldNode[] {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  }
  const fields: FieldNode[] = [];
  const seen = new Set<string>();
  const collect = (set: SelectionSetNode) => {
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) fields.push(sel);
      else if (sel.kind === Kind.INLINE_FRAGMENT) collect(sel.selectionSet);
      else if (!seen.has(sel.name.value)) {
        seen.add(sel.name.value);
        const frag = fragments.get(sel.name.value);
        if (frag) collect(frag.selectionSet);
      }
    }
  };
  collect(operation.selectionSet);
  return fields;
}

/**
 * The schema's names of the root fields an operation runs, each once (introspection as
 * `__schema`/`__type`, `__typename` left out): labels that no client can invent, unlike
 * operation names and aliases.
 */
export function rootFieldNames(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): string[] {
  const type = schema.getRootType(operation.operation);
  if (!type) return [];
  const known = type.getFields();
  const names = new Set<string>();
  for (const node of rootFieldNodes(document, operation)) {
    const name = node.name.value;
    if (name === "__schema" || name === "__type" || known[name]) names.add(name);
  }
  return [...names].sort();
}
function coerceVariables(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  raw: Record<string, unknown> | null | undefined,
): Record<string, unknown> {
  const result = getVariableValues(schema, operation.variableDefinitions ?? [], raw ?? {}, {
    maxErrors: 1,
  });
  if (result.errors) throw badInput(result.errors[0].message);
  return result.coerced;
}
