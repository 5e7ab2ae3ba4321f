import { dirname, join } from "node:path";
import type { Express } from "express";

export interface IdeOptions {
  /** The served model has random weights: every example says its results mean nothing. */
  randomWeights: boolean;
  /** What the served model is, in words (its config.json's brewgate_description), when known. */
  modelDescription?: string | null;
  /** Member and task the example operations use. */
  exampleMemberId: string;
  exampleTask: string;
  /** Tokens the pages send (the local run's development tokens); unset: none. */
  tokens?: IdeTokens;
}

export interface IdeTokens {
  /** Sent by the IDE: a member token of the example member. */
  member: string;
  /** Sent by the playground, which lists members and ranks for any of them. */
  service: string;
}

// GraphiQL and React served from node_modules: the IDE works with no network at all.
const ASSETS: Record<string, string> = {
  "react.js": join(dirname(require.resolve("react/package.json")), "umd", "react.production.min.js"),
  "react-dom.js": join(
    dirname(require.resolve("react-dom/package.json")),
    "umd",
    "react-dom.production.min.js",
  ),
  "graphiql.js": join(dirname(require.resolve("graphiql/package.json")), "graphiql.min.js"),
  "graphiql.css": join(dirname(require.resolve("graphiql/package.json")), "graphiql.min.css"),
  "graphql-ws.js": join(dirname(require.resolve("graphql-ws/package.json")), "umd", "graphql-ws.min.js"),
};

const RANDOM_NOTE =
  "# NOTE: this model has RANDOM WEIGHTS. Its rankings and\n" +
  "# explanations are meaningless until MODEL_DIR points at a\n" +
  "# real checkpoint. Everything else here is real.\n";

/** Example operations with the demo member and task written in (no variables to fill in). */
export function exampleTabs(o: IdeOptions): { query: string }[] {
  const note = o.randomWeights ? RANDOM_NOTE : "";
  const member = JSON.stringify(o.exampleMemberId);
  const task = JSON.stringify(o.exampleTask);
  return [
    {
      query: `${note}# Rank jobs: one shared prompt prefix, one Score call,
# sorted by the model's probability of "apply".
query Recommendations {
  recommendations(memberId: ${member}, task: ${task}, first: 5) {
    model
    items {
      rank
      score
      item { title company location }
      actions { answer probability }
    }
    usage { promptTokens cachedTokens }
  }
}`,
    },
    {
      query: `${note}# The model explains, token by token. Stop to cancel it.
subscription Explain {
  explanation(memberId: ${member}, task: ${task}, itemId: "job-1") {
    answer
    probability
    delta
    done
    finishReason
  }
}`,
    },
    {
      query: `${note}# A new ranking arrives whenever this member interacts
# (run the Interact tab while this runs).
subscription Live {
  livePredictions(memberId: ${member}, task: ${task}, first: 3) {
    reason
    eventIds
    ranking { items { rank score item { title company } } }
  }
}`,
    },
    {
      query: `# Record an interaction; Kafka producers send the same JSON
# to the interactions topic.
mutation Interact {
  recordInteractions(events: [{
    eventId: "ide-1", memberId: ${member}, itemId: "job-2",
    action: "APPLY", occurredAt: "2026-11-30T12:00:00Z"
  }]) { received stored duplicates }
}`,
    },
    {
      query: `# The exact prompt a ranking sends, with its token ids.
query Prompt {
  prompt(memberId: ${member}, task: ${task}, candidateIds: ["job-1"]) {
    prefixText
    historyUsed
    candidates { text }
  }
}`,
    },
  ];
}

function page(o: IdeOptions): string {
  const tabs = JSON.stringify(exampleTabs(o)).replace(/</g, "\\u003c");
  // The member token of the local run, shown in the headers editor, where it can be swapped.
  const headerObject = o.tokens ? { Authorization: `Bearer ${o.tokens.member}` } : {};
  const headers = JSON.stringify(headerObject);
  const defaultHeaders = JSON.stringify(o.tokens ? JSON.stringify(headerObject, null, 2) : "");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>brewgate GraphQL IDE</title>
<link rel="stylesheet" href="/ide/graphiql.css">
<style>body{margin:0;height:100vh}#ide{height:100vh}.graphiql-logo a{margin-left:.8em;font-size:.8em}</style>
</head>
<body>
<div id="ide"></div>
<script src="/ide/react.js"></script>
<script src="/ide/react-dom.js"></script>
<script src="/ide/graphiql.js"></script>
<script src="/ide/graphql-ws.js"></script>
<script>
(function () {
  var httpUrl = location.origin + "/graphql";
  // Headers from the IDE's headers editor; its Authorization also opens the WebSocket.
  var headers = ${headers};
  var ws = null, wsAuth = null;
  function socket() {
    var auth = headers.Authorization || headers.authorization || null;
    if (!ws || auth !== wsAuth) {
      if (ws) ws.dispose();
      wsAuth = auth;
      ws = graphqlWs.createClient({ url: httpUrl.replace(/^http/, "ws"), connectionParams: auth ? { authorization: auth } : {} });
    }
    return ws;
  }
  function isSubscription(params) {
    var q = params.query || "";
    var name = params.operationName;
    var re = name ? new RegExp("subscription\\\\s+" + name + "\\\\b") : /^\\s*subscription\\b/m;
    return re.test(q.replace(/#.*$/gm, ""));
  }
  function fetcher(params, opts) {
    if (opts && opts.headers) headers = opts.headers;
    if (isSubscription(params)) return socket().iterate(params);
    var h = Object.assign({ "content-type": "application/json" }, headers);
    return fetch(httpUrl, { method: "POST", headers: h, body: JSON.stringify(params) })
      .then(function (r) { return r.json(); });
  }
  // The logo's place holds links to the gateway's other pages.
  var logo = React.createElement(GraphiQL.Logo, null, "GraphiQL",
    React.createElement("a", { href: "/playground" }, "Playground"),
    React.createElement("a", { href: "/report" }, "Evaluation report"));
  ReactDOM.createRoot(document.getElementById("ide")).render(
    React.createElement(GraphiQL, { fetcher: fetcher, defaultTabs: ${tabs}, defaultHeaders: ${defaultHeaders}, defaultEditorToolsVisibility: true }, logo)
  );
})();
</script>
</body>
</html>`;
}

/** A GraphQL IDE at / (and /ide) with example operations for the demo data. */
export function mountIde(app: Express, o: IdeOptions): void {
  const html = page(o);
  for (const [name, file] of Object.entries(ASSETS)) {
    app.get(`/ide/${name}`, (_req, res) => {
      res.sendFile(file, { maxAge: "1h" });
    });
  }
  app.get("/favicon.ico", (_req, res) => {
    res.status(204).end();
  });
  for (const path of ["/", "/ide"]) {
    app.get(path, (_req, res) => {
      res.type("html").send(html);
    });
  }
}
