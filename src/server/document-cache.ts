import {
  type DocumentNode,
  type GraphQLError,
  type GraphQLSchema,
  type ParseOptions,
  parse,
  type Source,
  specifiedRules,
  type ValidationRule,
  validate,
} from "graphql";
import { Lru } from "../util/lru";

/**
 * Parsed and validated operations by their text, for the WebSocket transport (Apollo keeps its
 * own for HTTP). A subscribing client sends the same few operations again and again; parsing and
 * validating each anew costs time on the path to an explanation's first token.
 * The parse of a text is kept, and the validation of a kept document against the schema.
 */
export class DocumentCache {
  private readonly documents: Lru<DocumentNode>;
  private readonly validated = new WeakMap<DocumentNode, readonly GraphQLError[]>();
  private readonly rules: readonly ValidationRule[];
  private readonly maxTokens: number | undefined;

  /** `rules` run after GraphQL's own; `maxTokens` stops the parser on a longer text. */
  constructor(maxEntries: number, o: { rules?: readonly ValidationRule[]; maxTokens?: number } = {}) {
    this.documents = new Lru(maxEntries);
    this.rules = [...specifiedRules, ...(o.rules ?? [])];
    this.maxTokens = o.maxTokens;
  }

  /** Same contract as graphql's `parse`: throws a GraphQLError on a syntax error. */
  parse = (source: string | Source, options?: ParseOptions): DocumentNode => {
    if (typeof source !== "string" || options) return parse(source, options);
    const hit = this.documents.get(source);
    if (hit) return hit;
    const doc = parse(source, { maxTokens: this.maxTokens });
    this.documents.set(source, doc);
    return doc;
  };

  /** Same contract as graphql's `validate`, with GraphQL's rules and the constructor's. */
  validate = (schema: GraphQLSchema, doc: DocumentNode): readonly GraphQLError[] => {
    const hit = this.validated.get(doc);
    if (hit) return hit;
    const errors = validate(schema, doc, this.rules);
    this.validated.set(doc, errors);
    return errors;
  };
}
