// PlanGraph: a plan drawn as an SVG graph, the project's one renderer of plans. The evaluator's
// HTML report and the server's playground both inline this file.
//
// An action is {id, tool, args: [value, ...], deps: [id, ...]}. Its depth is the length of the
// longest chain of references leading to it, so every edge points down; within a layer, actions
// sit in the order of their parents' mean position, which keeps fan-ins uncrossed. Every text
// goes in as a text node, never as markup.
const PlanGraph = (() => {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const CHAR_PX = 7.3; // advance of a 12 px monospace glyph, generous so text stays inside boxes
  const LINE_PX = 16, PAD_X = 8, PAD_Y = 6, GAP_X = 22, GAP_Y = 34, MARGIN = 6, ARROW = 6;
  const MAX_CHARS = 34;
  const WAYPOINT_PX = 2, WAYPOINT_GAP_PX = 10; // width of a long edge's stand-in, and its gap to neighbours
  const REFERENCE = /^\$(\d+)$/;

  // An argument as a plan writes it (Python literals).
  const literal = (value) => {
    if (typeof value === "string") return JSON.stringify(value);
    if (Array.isArray(value)) return "[" + value.map(literal).join(", ") + "]";
    if (value === null || value === undefined) return "None";
    if (value === true) return "True";
    if (value === false) return "False";
    if (typeof value === "object") {
      return "{" + Object.entries(value).map(([k, v]) => JSON.stringify(k) + ": " + literal(v)).join(", ") + "}";
    }
    return String(value);
  };

  // Ids an argument list references: a whole string "$N" as an argument, a list element or a
  // dict value (a dict value counts as an argument); not inside a nested list.
  const collect = (value, ids, inList) => {
    if (typeof value === "string") {
      const found = REFERENCE.exec(value);
      if (found) ids.push(Number(found[1]));
    } else if (Array.isArray(value)) {
      if (!inList) value.forEach((item) => collect(item, ids, true));
    } else if (value !== null && typeof value === "object") {
      Object.values(value).forEach((item) => collect(item, ids, false));
    }
  };
  const references = (args) => {
    const ids = [];
    for (const arg of args) collect(arg, ids, false);
    return ids;
  };

  const clip = (text, limit = MAX_CHARS) => {
    const chars = Array.from(text.trim().split(/\s+/).join(" "));
    return chars.length <= limit ? chars.join("") : chars.slice(0, limit - 1).join("") + "…";
  };

  const make = (tag, attributes, parent) => {
    const node = document.createElementNS(NS, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (parent) parent.append(node);
    return node;
  };

  const text = (tag, attributes, content, parent) => {
    const node = make(tag, attributes, parent);
    node.textContent = content;
    return node;
  };

  // Nodes with parents (positions) and depths; a reference to a missing or later action draws no edge.
  const layered = (actions) => {
    const first = new Map();
    const nodes = [];
    actions.forEach((action, position) => {
      const parents = [...new Set(action.deps)].filter((id) => first.has(id)).map((id) => first.get(id));
      const depth = parents.length ? 1 + Math.max(...parents.map((p) => nodes[p].depth)) : 0;
      nodes.push({ action, parents, depth });
      if (!first.has(action.id)) first.set(action.id, position);
    });
    return nodes;
  };

  // An edge that spans several layers passes through a narrow stand-in ("waypoint") in each layer
  // between, which takes part in the ordering like a node: long edges then run between the
  // nodes of the layers they cross instead of behind them.
  const withWaypoints = (nodes) => {
    const vertices = nodes.map((node) => ({ node, depth: node.depth, up: [], w: node.w }));
    const edges = [];
    nodes.forEach((node, target) => {
      for (const source of node.parents) {
        const route = [];
        let previous = source;
        for (let depth = nodes[source].depth + 1; depth < node.depth; depth += 1) {
          vertices.push({ node: null, depth, up: [previous], w: WAYPOINT_PX });
          previous = vertices.length - 1;
          route.push(previous);
        }
        vertices[target].up.push(previous);
        edges.push({ source, target, route });
      }
    });
    return { vertices, edges };
  };

  // Vertex indices per layer, each layer ordered by the mean slot of what it hangs from.
  const layersOf = (vertices) => {
    const layers = [];
    const slot = new Map();
    const deepest = Math.max(-1, ...vertices.map((v) => v.depth));
    for (let depth = 0; depth <= deepest; depth += 1) {
      const members = vertices.map((v, i) => i).filter((i) => vertices[i].depth === depth);
      if (depth) {
        const centre = (i) => vertices[i].up.reduce((sum, p) => sum + slot.get(p), 0) / vertices[i].up.length;
        members.sort((a, b) => centre(a) - centre(b) || a - b);
      }
      members.forEach((i, rank) => slot.set(i, rank - (members.length - 1) / 2)); // layers are drawn centred
      layers.push(members);
    }
    return layers;
  };

  // The x of the index-th of `count` edge ends along a node's side, so that fan-ins stay apart.
  const spread = (vertex, count, index) => vertex.x + (vertex.w * (index + 1)) / (count + 1);

  const placeholder = (headline, detail) => {
    const lines = [clip(headline, 60)].concat(detail ? [clip(detail, 60)] : []);
    const width = Math.max(...lines.map((l) => Array.from(l).length)) * CHAR_PX + 2 * (PAD_X + MARGIN);
    const height = lines.length * LINE_PX + 2 * (PAD_Y + MARGIN);
    const svg = make("svg", { class: "plan placeholder", width: width.toFixed(0), height: height.toFixed(0),
      viewBox: `0 0 ${width.toFixed(0)} ${height.toFixed(0)}`, role: "img", "aria-label": headline });
    make("rect", { x: MARGIN, y: MARGIN, width: (width - 2 * MARGIN).toFixed(0), height: height - 2 * MARGIN, rx: 5 }, svg);
    lines.forEach((line, k) => text("text", { x: MARGIN + PAD_X, y: MARGIN + PAD_Y + (k + 1) * LINE_PX - 4 }, line, svg));
    return svg;
  };

  // marks: {nodes: [id], edges: [[from, to]], arg: [id, index, name], fresh: id} (all optional).
  const draw = (actions, marks = {}, label = "plan") => {
    if (!actions.length) return placeholder("no actions", "the plan is only join()");
    const markedNodes = new Set(marks.nodes || []);
    const markedEdges = new Set((marks.edges || []).map(([from, to]) => `${from}>${to}`));
    const nodes = layered(actions);
    for (const node of nodes) {
      const { id, tool, args } = node.action;
      const argsText = args.map(literal).join(", ");
      node.call = `${id}. ${tool}(${argsText})`;
      node.lines = [["t", clip(`${id}. ${tool}`)]];
      if (args.length) node.lines.push(["a", clip(argsText)]);
      if (marks.arg && marks.arg[0] === id) {
        const [, index, name] = marks.arg;
        node.lines.push(["d", clip(`≠ ${name}: ${index < args.length ? literal(args[index]) : "(not given)"}`)]);
      }
      node.w = Math.max(...node.lines.map(([, line]) => Array.from(line).length)) * CHAR_PX + 2 * PAD_X;
      node.h = node.lines.length * LINE_PX + 2 * PAD_Y;
    }
    const { vertices, edges } = withWaypoints(nodes);
    const layers = layersOf(vertices);
    const gap = (a, b) => (vertices[a].node && vertices[b].node ? GAP_X : WAYPOINT_GAP_PX);
    const widths = layers.map((layer) => layer.reduce((sum, i, k) => sum + vertices[i].w + (k ? gap(layer[k - 1], i) : 0), 0));
    const width = Math.max(...widths) + 2 * MARGIN;
    let y = MARGIN;
    layers.forEach((layer, k) => {
      let x = (width - widths[k]) / 2;
      const tallest = Math.max(...layer.map((i) => (vertices[i].node ? vertices[i].node.h : 0)));
      layer.forEach((i, rank) => {
        const vertex = vertices[i];
        x += rank ? gap(layer[rank - 1], i) : 0;
        vertex.x = x;
        vertex.top = y;
        vertex.bottom = y + tallest;
        if (vertex.node) Object.assign(vertex.node, { x, y: y + (tallest - vertex.node.h) / 2 });
        x += vertex.w;
      });
      y += tallest + GAP_Y;
    });
    const height = y - GAP_Y + MARGIN;
    const svg = make("svg", { class: "plan", width: width.toFixed(0), height: height.toFixed(0),
      viewBox: `0 0 ${width.toFixed(0)} ${height.toFixed(0)}`, role: "img", "aria-label": label });
    // Edge ends are spread along a node's side in the order of where their first or last hop lies.
    const hop = (edge, end) => vertices[end === "out" ? (edge.route[0] ?? edge.target) : (edge.route[edge.route.length - 1] ?? edge.source)];
    const ends = (end, key) => {
      const groups = new Map();
      for (const edge of edges) groups.set(edge[key], (groups.get(edge[key]) || []).concat([edge]));
      for (const group of groups.values()) group.sort((a, b) => hop(a, end).x - hop(b, end).x);
      return groups;
    };
    const outgoing = ends("out", "source"), incoming = ends("in", "target");
    for (const edge of edges) {
      const source = nodes[edge.source], target = nodes[edge.target];
      const leaving = outgoing.get(edge.source), arriving = incoming.get(edge.target);
      let x = spread(source, leaving.length, leaving.indexOf(edge)), y = source.y + source.h;
      let d = `M${x} ${y}`;
      const curveTo = (x2, y2) => {
        const bend = Math.max((y2 - y) / 2, 12);
        d += `C${x} ${y + bend} ${x2} ${y2 - bend} ${x2} ${y2}`;
        [x, y] = [x2, y2];
      };
      for (const waypoint of edge.route.map((i) => vertices[i])) {
        curveTo(waypoint.x + WAYPOINT_PX / 2, waypoint.top);
        d += `L${x} ${waypoint.bottom}`;
        y = waypoint.bottom;
      }
      const x2 = spread(target, arriving.length, arriving.indexOf(edge)), y2 = target.y;
      curveTo(x2, y2 - ARROW);
      const marked = markedEdges.has(`${source.action.id}>${target.action.id}`);
      const group = make("g", { class: marked ? "edge diff" : "edge", "data-from": source.action.id, "data-to": target.action.id }, svg);
      make("path", { d }, group);
      make("polygon", { points: `${x2 - ARROW / 2},${y2 - ARROW} ${x2 + ARROW / 2},${y2 - ARROW} ${x2},${y2}` }, group);
    }
    for (const node of nodes) {
      const id = node.action.id;
      const classes = ["node"].concat(markedNodes.has(id) ? ["diff"] : [], marks.fresh === id ? ["fresh"] : []);
      const group = make("g", { class: classes.join(" "), "data-id": id }, svg);
      text("title", {}, node.call, group);
      make("rect", { x: node.x, y: node.y, width: node.w, height: node.h, rx: 5 }, group);
      node.lines.forEach(([kind, line], k) =>
        text("text", { class: kind, x: node.x + PAD_X, y: node.y + PAD_Y + (k + 1) * LINE_PX - 4 }, line, group));
    }
    return svg;
  };

  return { draw, placeholder, literal, references };
})();
