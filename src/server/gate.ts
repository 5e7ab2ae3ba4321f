import type { DocumentNode, GraphQLSchema } from "graphql";
import { type ModelCostDefaults, modelCost } from "../auth/model-cost";
import { authorizeField } from "../auth/policy";
import type { Principal } from "../auth/principal";
import type { RateLimits } from "../auth/rate-limit";
import { badInput } from "../domain/errors";
import { rootFields } from "./operation";

export interface OperationRequest {
  document: DocumentNode;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

export interface GateOptions {
  schema: GraphQLSchema;
  /** Most model cost of one operation (0: no limit). */
  maxModelCost: number;
  costDefaults: ModelCostDefaults;
  limits: RateLimits;
}

/**
 * What every operation passes before it runs, over HTTP and over WebSocket alike, after parsing
 * and validation (depth, aliases, tokens and structural cost are validation rules): each root
 * field against the authorization table, then the operation's model cost against its ceiling,
 * then the principal's rate limit, spending that cost. Throws the DomainError to answer with
 * (FORBIDDEN, BAD_USER_INPUT, RATE_LIMITED); nothing has run when it does.
 */
export class OperationGate {
  constructor(private readonly o: GateOptions) {}

  async check(principal: Principal, req: OperationRequest): Promise<{ cost: number }> {
    const fields = rootFields(this.o.schema, req.document, req.operationName, req.variables);
    for (const f of fields) authorizeField(principal, f.coordinate, f.args);
    const cost = modelCost(fields, this.o.costDefaults);
    if (this.o.maxModelCost > 0 && cost > this.o.maxModelCost) {
      throw badInput(
        `the operation's model cost is ${cost}, over the limit of ${this.o.maxModelCost} ` +
          "(candidates ranked plus explanation tokens; GRAPHQL_MAX_MODEL_COST)",
        { cost, limit: this.o.maxModelCost },
      );
    }
    await this.o.limits.consume(principal, cost);
    return { cost };
  }
}
