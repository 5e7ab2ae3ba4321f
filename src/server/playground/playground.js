// The playground's script: plain browser JavaScript, served as it is (src/server/playground.ts).
// It talks to /graphql over HTTP for queries and over graphql-ws (the graphql-transport-ws
// protocol, its few messages written here) for the streamed explanation. Text from the API is
// only ever set as text (textContent, text nodes), never parsed as HTML.
"use strict";

(() => {
  const endpoint = `${location.origin}/graphql`;
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  // The local run's development token (npm start), when the gateway was given one.
  const token = body.dataset.token || "";
  const authHeaders = token ? { authorization: `Bearer ${token}` } : {};

  /** An element with attributes (`data` for data-*), children appended as nodes or text. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs ?? {})) {
      if (value === undefined || value === null) continue;
      if (name === "data") Object.assign(node.dataset, value);
      else node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
  }

  async function gql(query, variables) {
    const res = await fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", ...authHeaders },
      body: JSON.stringify({ query, variables }),
    });
    const answer = await res.json();
    if (answer.errors?.length) throw new Error(answer.errors.map((e) => e.message).join("; "));
    return answer.data;
  }

  const percent = (p) => `${(p * 100).toFixed(1)}%`;

  // ---- member, profile, history ----

  const MEMBERS = `query PlaygroundMembers {
    members(first: 100) { totalCount edges { node { id currentPosition currentCompany } } }
  }`;
  const TASKS = `query PlaygroundTasks { tasks { name itemType itemNounPlural } }`;
  const MEMBER = `query PlaygroundMember($id: ID!) {
    member(id: $id) {
      id currentPosition currentCompany location yearsOfExperience skills summary
      interactions(first: 20) { eventId action surface occurredAt item { id type title company location } }
    }
  }`;

  function renderProfile(member) {
    const profile = $("profile");
    profile.replaceChildren();
    const rows = [
      ["Position", member.currentPosition],
      ["Company", member.currentCompany],
      ["Location", member.location],
      ["Experience", member.yearsOfExperience == null ? null : `${member.yearsOfExperience} years`],
      ["Skills", member.skills.length ? member.skills.join(", ") : null],
      ["Summary", member.summary],
    ];
    for (const [name, value] of rows) {
      if (value == null || value === "") continue;
      profile.append(el("dt", {}, name), el("dd", { data: { field: name.toLowerCase() } }, value));
    }
  }

  function renderHistory(interactions) {
    const list = $("history");
    list.replaceChildren();
    if (interactions.length === 0) {
      list.append(el("li", { class: "note" }, "No interactions yet."));
      return;
    }
    for (const i of interactions) {
      const where = [i.item.company, i.item.location].filter(Boolean).join(" · ");
      list.append(
        el(
          "li",
          { data: { eventId: i.eventId, itemId: i.item.id, action: i.action } },
          el("span", { class: `action action-${i.action.toLowerCase()}` }, i.action),
          " ",
          el("span", { class: "title" }, i.item.title),
          where ? el("span", { class: "where" }, ` ${where}`) : null,
          el("time", { datetime: i.occurredAt }, new Date(i.occurredAt).toLocaleString()),
        ),
      );
    }
  }

  async function loadMember(id) {
    stopExplanation();
    $("ranking").replaceChildren();
    $("rank-status").textContent = "";
    resetExplanation();
    $("member-panel").dataset.memberId = "";
    const data = await gql(MEMBER, { id });
    if (!data.member) throw new Error(`member '${id}' does not exist`);
    renderProfile(data.member);
    renderHistory(data.member.interactions);
    $("member-panel").dataset.memberId = data.member.id;
    $("rank").disabled = false;
  }

  // ---- ranking ----

  const RANK = `query PlaygroundRank($memberId: ID!, $task: String!, $first: Int!) {
    recommendations(memberId: $memberId, task: $task, first: $first) {
      model promptVersion historyUsed scored
      timings { totalMs }
      items {
        rank itemId score
        item { title company location }
        actions { action answer probability positive }
      }
    }
  }`;

  function bar(a) {
    const fill = el("span", { class: "bar-fill" });
    fill.style.width = `${Math.max(0, Math.min(1, a.probability)) * 100}%`;
    return el(
      "div",
      {
        class: a.positive ? "bar positive" : "bar",
        data: { action: a.action, probability: String(a.probability) },
        title: `${a.answer} (${a.action}): ${a.probability}`,
      },
      el("span", { class: "bar-label" }, a.answer),
      el("span", { class: "bar-track" }, fill),
      el("span", { class: "bar-value" }, percent(a.probability)),
    );
  }

  function renderRanking(r) {
    const list = $("ranking");
    list.replaceChildren();
    for (const rec of r.items) {
      const where = [rec.item.company, rec.item.location].filter(Boolean).join(" · ");
      const open = el(
        "button",
        { type: "button", class: "job-open", title: "Stream the model's explanation" },
        el("span", { class: "rank" }, `#${rec.rank}`),
        el("span", { class: "title" }, rec.item.title),
        where ? el("span", { class: "where" }, where) : null,
        el(
          "span",
          { class: "score", title: "probability of the positive answers" },
          `score ${percent(rec.score)}`,
        ),
      );
      open.addEventListener("click", () => explain(rec, open));
      list.append(
        el(
          "li",
          { class: "job", data: { itemId: rec.itemId, rank: String(rec.rank), score: String(rec.score) } },
          open,
          el("div", { class: "bars" }, ...rec.actions.map(bar)),
        ),
      );
    }
    $("rank-status").textContent =
      `${r.items.length} of ${r.scored} scored by ${r.model} in ${Math.round(r.timings.totalMs)} ms; ` +
      `${r.historyUsed} past interactions in the prompt; prompt version ${r.promptVersion}.`;
  }

  async function rank() {
    const memberId = $("member").value;
    const first = Number($("first").value) || 10;
    $("rank").disabled = true;
    $("rank-status").textContent = "Ranking…";
    $("ranking").replaceChildren();
    stopExplanation();
    resetExplanation();
    try {
      const task = $("task").value;
      const data = await gql(RANK, { memberId, task, first });
      // A ranking that comes back after the member or task changed is no longer asked for.
      if ($("member").value !== memberId || $("task").value !== task) return;
      renderRanking(data.recommendations);
      showError("");
    } catch (err) {
      $("rank-status").textContent = "";
      showError(`Ranking failed: ${err.message}`);
    } finally {
      $("rank").disabled = false;
    }
  }

  // ---- the explanation, over graphql-ws ----

  const EXPLAIN = `subscription PlaygroundExplain($memberId: ID!, $task: String!, $itemId: ID!) {
    explanation(memberId: $memberId, task: $task, itemId: $itemId) {
      answer probability delta done finishReason
    }
  }`;

  /** The socket of the explanation streaming now; closing it cancels the generation. */
  let socket = null;

  /** Closes the explanation's socket, telling the server first unless it has completed. */
  function stopExplanation(completed = false) {
    if (socket) {
      const s = socket;
      socket = null;
      if (!completed && s.readyState === WebSocket.OPEN)
        s.send(JSON.stringify({ id: "1", type: "complete" }));
      s.close(1000, "done");
    }
  }

  function resetExplanation() {
    const panel = $("explain-panel");
    panel.dataset.state = "idle";
    delete panel.dataset.itemId;
    delete panel.dataset.answer;
    $("explain-head").textContent = "Click a ranked job to hear the model explain it.";
    $("explain-text").replaceChildren();
    $("explain-status").textContent = "";
    for (const b of document.querySelectorAll(".job-open[aria-pressed]")) b.removeAttribute("aria-pressed");
  }

  function explain(rec, button) {
    stopExplanation();
    resetExplanation();
    button.setAttribute("aria-pressed", "true");
    const panel = $("explain-panel");
    const text = $("explain-text");
    const status = $("explain-status");
    panel.dataset.state = "connecting";
    panel.dataset.itemId = rec.itemId;
    $("explain-head").textContent = `Why the member would or would not act on “${rec.item.title}”:`;
    status.textContent = "Connecting…";

    const variables = { memberId: $("member").value, task: $("task").value, itemId: rec.itemId };
    const ws = new WebSocket(endpoint.replace(/^http/, "ws"), "graphql-transport-ws");
    socket = ws;
    const mine = () => socket === ws;
    const fail = (message) => {
      panel.dataset.state = "error";
      status.textContent = message;
      stopExplanation();
    };
    ws.addEventListener("open", () =>
      ws.send(JSON.stringify({ type: "connection_init", payload: authHeaders })),
    );
    ws.addEventListener("message", (event) => {
      if (!mine()) return;
      const msg = JSON.parse(event.data);
      if (msg.type === "connection_ack") {
        ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: EXPLAIN, variables } }));
        panel.dataset.state = "streaming";
        status.textContent = "The model is writing…";
      } else if (msg.type === "ping") {
        ws.send(JSON.stringify({ type: "pong" }));
      } else if (msg.type === "next") {
        if (msg.payload.errors?.length) {
          fail(msg.payload.errors.map((e) => e.message).join("; "));
          return;
        }
        const e = msg.payload.data.explanation;
        if (!panel.dataset.answer) {
          panel.dataset.answer = e.answer;
          $("explain-head").append(
            " ",
            el("strong", { class: "answer" }, `${e.answer} (${percent(e.probability)})`),
          );
        }
        if (e.delta) text.append(document.createTextNode(e.delta));
        if (e.done) {
          panel.dataset.state = "done";
          status.textContent = `Done (${e.finishReason ?? "finished"}).`;
        }
      } else if (msg.type === "error") {
        fail(msg.payload.map((e) => e.message).join("; "));
      } else if (msg.type === "complete") {
        if (panel.dataset.state !== "done") {
          panel.dataset.state = "error";
          status.textContent = "The stream ended before its last event.";
        }
        stopExplanation(true);
      }
    });
    ws.addEventListener("close", (event) => {
      if (!mine()) return;
      socket = null;
      if (panel.dataset.state !== "done") {
        panel.dataset.state = "error";
        status.textContent = `The connection closed before the end (${event.code} ${event.reason}).`;
      }
    });
  }

  // ---- start ----

  async function start() {
    try {
      const [members, tasks] = await Promise.all([gql(MEMBERS), gql(TASKS)]);
      const taskSelect = $("task");
      taskSelect.replaceChildren(
        ...tasks.tasks.map((t) => el("option", { value: t.name }, `${t.name} (${t.itemNounPlural})`)),
      );
      const defaultTask = body.dataset.defaultTask;
      if (tasks.tasks.some((t) => t.name === defaultTask)) taskSelect.value = defaultTask;
      taskSelect.disabled = false;
      taskSelect.addEventListener("change", () => {
        stopExplanation();
        resetExplanation();
        $("ranking").replaceChildren();
        $("rank-status").textContent = "";
      });

      const memberSelect = $("member");
      const nodes = members.members.edges.map((e) => e.node);
      if (nodes.length === 0) {
        memberSelect.replaceChildren(el("option", {}, "no members"));
        $("member-note").textContent = "The database has no members yet: add some with upsertMember.";
        return;
      }
      memberSelect.replaceChildren(
        ...nodes.map((m) => {
          const what = [m.currentPosition, m.currentCompany].filter(Boolean).join(" at ");
          return el("option", { value: m.id }, what ? `${m.id} — ${what}` : m.id);
        }),
      );
      if (members.members.totalCount > nodes.length) {
        $("member-note").textContent = `The first ${nodes.length} of ${members.members.totalCount} members.`;
      }
      const wanted = new URLSearchParams(location.search).get("member") ?? body.dataset.defaultMember;
      memberSelect.value = nodes.some((m) => m.id === wanted) ? wanted : nodes[0].id;
      memberSelect.disabled = false;
      memberSelect.addEventListener("change", () =>
        loadMember(memberSelect.value).catch((err) => showError(err.message)),
      );
      $("rank").addEventListener("click", rank);
      await loadMember(memberSelect.value);
    } catch (err) {
      showError(`Could not load the playground: ${err.message}`);
    }
  }

  start();
})();
