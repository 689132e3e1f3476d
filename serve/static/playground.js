// The playground: plans a query through /v1/plan/stream and shows each step as it arrives.
// EventSource can neither POST nor send headers, so the event stream is read from fetch. Every
// text from the server goes into the page as a text node. PlanGraph (plan_graph.js) comes first.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const keyRequired = document.body.dataset.keyRequired === "true";
  $("key-row").hidden = !keyRequired;

  fetch("/health")
    .then((response) => response.json())
    .then((health) => { $("model").textContent = `model ${health.model}`; })
    .catch(() => { $("model").textContent = "(health check failed)"; });

  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const status = (text, failed = false) => {
    $("status").textContent = text;
    $("status").className = failed ? "failed" : "";
  };

  // JSON as Python's json.dumps writes it (", " and ": "), so that the arguments read exactly as
  // the server's /v1/chat/completions answer holds them.
  const pyJson = (value) => {
    if (Array.isArray(value)) return "[" + value.map(pyJson).join(", ") + "]";
    if (value !== null && typeof value === "object") {
      return "{" + Object.entries(value).map(([k, v]) => JSON.stringify(k) + ": " + pyJson(v)).join(", ") + "}";
    }
    return JSON.stringify(value);
  };

  // What /v1/chat/completions returns for these steps: call_N for action N, references kept as "$N".
  const toolCalls = (steps) => steps.map((step) => ({
    id: `call_${step.id}`, type: "function", function: { name: step.tool, arguments: pyJson(step.args) },
  }));

  const drawSteps = (steps, fresh) => {
    const actions = steps.map((s) => ({ id: s.id, tool: s.tool, args: Object.values(s.args), deps: s.depends_on }));
    $("graph").replaceChildren(actions.length ? PlanGraph.draw(actions, { fresh }, "plan") : el("p", "empty", "The plan has no action."));
    $("tool-calls").textContent = JSON.stringify(toolCalls(steps), null, 2);
  };

  const latency = (items) => {
    $("latency").replaceChildren(...items.map(([label, ms]) => {
      const box = el("div");
      box.append(el("b", null, `${Math.round(ms)} ms`), el("span", null, label));
      return box;
    }));
  };

  const showRetrieved = (done) => {
    const box = $("retrieved");
    box.replaceChildren(el("h3", null, "Tools in the prompt"));
    const chips = el("div", "chips");
    chips.append(...done.tools.map((tool) => el("span", "chip", tool)));
    if (!done.tools.length) chips.append(el("span", "empty", "none"));
    box.append(chips, el("h3", null, "In-context examples"));
    if (!done.examples.length) {
      box.append(el("p", "empty", "none"));
      return;
    }
    const table = el("table");
    const head = el("tr");
    head.append(el("th", null, "score"), el("th", null, "query"));
    table.append(head);
    for (const example of done.examples) {
      const row = el("tr");
      row.append(el("td", "num", example.score.toFixed(3)), el("td", null, example.query));
      table.append(row);
    }
    box.append(table);
  };

  const parseEvent = (block) => {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    return { event, data: data.length ? JSON.parse(data.join("\n")) : null };
  };

  const errorText = async (response) => {
    try {
      const body = await response.json();
      return body.error.message;
    } catch {
      return response.statusText;
    }
  };

  const plan = async (query) => {
    const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
    const key = $("key").value.trim();
    if (key) headers.Authorization = `Bearer ${key}`;
    const started = performance.now();
    let firstStep = null;
    const steps = [];
    status("planning…");
    const response = await fetch("/v1/plan/stream", { method: "POST", headers, body: JSON.stringify({ query }) });
    if (!response.ok) {
      const hint = response.status === 401 ? " (type the server's API key)" : "";
      status(`${response.status}: ${await errorText(response)}${hint}`, true);
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const { event, data } = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        const now = performance.now() - started;
        if (event === "step") {
          firstStep = firstStep ?? now;
          steps.push(data);
          drawSteps(steps, data.id);
          status(`step ${steps.length} (action ${data.id}, ${data.tool}) after ${Math.round(now)} ms`);
          latency([["first step", firstStep]]);
        } else if (event === "done") {
          drawSteps(data.steps, null);
          $("plan-text").textContent = data.plan;
          $("valid").textContent = data.valid ? "valid" : "not a valid plan";
          $("valid").className = data.valid ? "valid" : "valid no";
          showRetrieved(data);
          status(`done: ${data.steps.length} action${data.steps.length === 1 ? "" : "s"}`);
          latency([["first step", firstStep ?? now], ["whole plan (this page)", now], ["server", data.latency_ms]]);
        } else if (event === "error") {
          status(data.error.message, true);
        }
      }
    }
  };

  $("query").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {  // Shift+Enter for a new line
      event.preventDefault();
      $("ask").requestSubmit();
    }
  });

  $("ask").addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = $("query").value.trim();
    if (!query) {
      status("type a query first", true);
      return;
    }
    $("submit").disabled = true;
    $("graph").replaceChildren(el("p", "empty", "waiting for the first step…"));
    $("plan-text").textContent = "";
    $("tool-calls").textContent = "[]";
    $("valid").textContent = "";
    try {
      await plan(query);
    } catch (error) {
      status(`the server cannot be reached: ${error.message}`, true);
    } finally {
      $("submit").disabled = false;
    }
  });
})();
