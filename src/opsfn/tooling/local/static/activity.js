// The side panel of opsfn local: what the stack did (each invocation's trigger, kind, routes and
// result), pushed live by the stack (Server-Sent Events from /_local/activity/stream).
// Self-contained: it adds its own <aside> and only runs when the page is served by opsfn local.
"use strict";

(function () {
  const KEEP = 50;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function entryItem(entry) {
    const item = element("li", "activity-entry " + (entry.ok ? "ok" : "failed"));
    item.dataset.seq = String(entry.seq);
    item.dataset.kind = entry.kind || "";
    item.dataset.status = entry.ok ? "ok" : "failed";
    const head = element("div", "activity-head");
    head.append(element("span", "activity-time", entry.time),
                element("span", "activity-trigger", entry.trigger));
    item.append(head);
    const routes = element("ul", "activity-routes");
    for (const route of entry.routes || []) {
      const line = element("li", route.ok ? "ok" : "failed", route.route);
      line.dataset.route = route.route;
      routes.append(line);
    }
    if (!routes.children.length) routes.append(element("li", "none", entry.kind ? `${entry.kind}: no route ran` : "no route ran"));
    item.append(routes, element("div", "activity-result", `${entry.result} · ${entry.ms} ms`));
    return item;
  }

  function start() {
    const panel = element("aside", "");
    panel.id = "activity";
    panel.setAttribute("aria-label", "What the local stack did");
    const title = element("h2", "", "Local stack");
    const state = element("span", "activity-state", "connecting");
    title.append(" ", state);
    const list = element("ol", "");
    list.id = "activity-list";
    panel.append(title, list);
    document.body.append(panel);
    document.body.classList.add("has-activity");

    const stream = new EventSource("/_local/activity/stream");
    stream.onopen = () => { state.textContent = "live"; panel.dataset.live = "true"; };
    stream.onerror = () => { state.textContent = "reconnecting"; panel.dataset.live = "false"; };
    stream.onmessage = (message) => {
      const entry = JSON.parse(message.data);
      if (list.querySelector(`[data-seq="${entry.seq}"]`)) return;
      list.prepend(entryItem(entry));
      while (list.children.length > KEEP) list.lastElementChild.remove();
    };
  }

  fetch("/_local/info")
    .then((reply) => (reply.ok ? reply.json() : null))
    .then((info) => { if (info && info.local === true) start(); })
    .catch(() => {});
})();
