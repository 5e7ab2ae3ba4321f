import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Express } from "express";
import type { Logger } from "../observability/logger";
import { escapeHtml } from "../util/html";
import type { IdeOptions } from "./ide";

/** The page's script and style, served as they are (no bundler, no framework). */
export const PLAYGROUND_FILES = ["playground.js", "playground.css"] as const;

/**
 * Where the page's files are: tsc copies only what it compiles into dist/, so they are read from
 * the source tree, found from this module whether it runs compiled (dist/src/server/, as both
 * `npm start` and `node dist/src/main.js` run it) or from source (src/server/). Not the working
 * directory: the gateway may be started from anywhere.
 */
export const PLAYGROUND_DIRS = [
  join(__dirname, "..", "..", "..", "src", "server", "playground"),
  join(__dirname, "playground"),
];

export function findPlaygroundDir(): string | null {
  return PLAYGROUND_DIRS.find((d) => PLAYGROUND_FILES.every((f) => existsSync(join(d, f)))) ?? null;
}

/**
 * Only this origin's script, style and GraphQL endpoint (over HTTP and WebSocket): a page that
 * shows API data cannot run or fetch anything else, whatever the data holds.
 */
export const PLAYGROUND_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function page(o: IdeOptions): string {
  const random = o.randomWeights
    ? `<p class="warning" id="random-weights">This model has <strong>random weights</strong>: its rankings and
explanations mean nothing until MODEL_DIR points at a real checkpoint. Everything else here is real.</p>`
    : o.modelDescription
      ? `<p class="note" id="model-description">The model is ${escapeHtml(o.modelDescription)}.</p>`
      : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>brewgate playground</title>
<link rel="stylesheet" href="/playground/playground.css">
<script src="/playground/playground.js" defer></script>
</head>
<body data-default-task="${escapeHtml(o.exampleTask)}" data-default-member="${escapeHtml(o.exampleMemberId)}"${o.tokens ? ` data-token="${escapeHtml(o.tokens.service)}"` : ""}>
<header>
<h1>brewgate playground</h1>
<nav><a href="/report">Evaluation report</a> <a href="/reports">All evaluation runs</a> <a href="/">GraphQL IDE</a></nav>
</header>
${random}
<p class="error" id="error" hidden></p>
<main>
<section id="member-panel">
<h2>Member</h2>
<label>Member <select id="member" disabled><option>loading…</option></select></label>
<p class="note" id="member-note"></p>
<dl id="profile"></dl>
<h3>Recent history</h3>
<ol id="history" class="history"></ol>
</section>
<section id="rank-panel">
<h2>Ranking</h2>
<div class="controls">
<label>Task <select id="task" disabled><option>loading…</option></select></label>
<label>How many <input id="first" type="number" min="1" max="100" value="10"></label>
<button id="rank" type="button" disabled>Rank</button>
</div>
<p class="note" id="rank-status"></p>
<ol id="ranking" class="ranking"></ol>
</section>
<section id="explain-panel" data-state="idle">
<h2>Explanation</h2>
<p class="note" id="explain-head">Click a ranked job to hear the model explain it.</p>
<p id="explain-text" class="explanation"></p>
<p class="note" id="explain-status"></p>
</section>
</main>
</body>
</html>`;
}

/**
 * The playground at /playground: pick a member, see their profile and history, rank jobs for
 * them with the probability of every action, and stream the model's explanation of one. It talks
 * to /graphql like any client, over HTTP and graphql-ws.
 */
export function mountPlayground(app: Express, o: IdeOptions, logger: Logger): void {
  const dir = findPlaygroundDir();
  if (!dir) {
    logger.error(
      { looked: PLAYGROUND_DIRS },
      "the playground's files (src/server/playground/) are missing: /playground is not served",
    );
    app.get("/playground", (_req, res) => {
      res.status(500).type("text").send("The playground's files (src/server/playground/) are missing.\n");
    });
    return;
  }
  const html = page(o);
  const headers = { "content-security-policy": PLAYGROUND_CSP, "x-content-type-options": "nosniff" };
  app.get("/playground", (_req, res) => {
    res
      .set({ ...headers, "cache-control": "no-store" })
      .type("html")
      .send(html);
  });
  for (const name of PLAYGROUND_FILES) {
    // Revalidated on every load (ETag): an edited file shows on reload, no restart.
    app.get(`/playground/${name}`, (_req, res) => {
      res.set(headers).sendFile(join(dir, name), { maxAge: 0 });
    });
  }
}
