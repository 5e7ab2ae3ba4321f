import type { Config } from "../config";
import type { Db } from "../db/client";
import type { Logger } from "../observability/logger";
import type { TextTokenizer } from "../prompt/tokenizer";

/** What every resolver can reach; built once per process, shared by all requests. */
export interface GatewayContext {
  config: Config;
  db: Db;
  logger: Logger;
  /** Null when no tokenizer is configured (TOKENIZER_PATH / MODEL_DIR unset). */
  tokenizer: TextTokenizer | null;
}
