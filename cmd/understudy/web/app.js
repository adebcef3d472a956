// The live view of a running tree: GET /v1/status for the rows, refreshed
// once a second (for the ages) and after every event of GET /v1/events
// (server-sent events); POST /v1/OP with a JSON body for the buttons.
"use strict";

const maxEvents = 200;
const $ = (id) => document.getElementById(id);

let refreshing = false;
let again = false;

// refresh fetches the status and shows it; a call while one is under way
// runs once more after it, so the last event is always shown.
async function refresh() {
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = true;
  try {
    do {
      again = false;
      const r = await fetch("/v1/status", { cache: "no-store" });
      const st = await r.json();
      if (!r.ok) throw new Error(st.error || r.statusText);
      show(st);
      $("error").textContent = "";
    } while (again);
  } catch (e) {
    $("error").textContent = "status: " + e.message;
  } finally {
    refreshing = false;
  }
}

function secs(s) {
  if (s === undefined || s === null) return "-";
  if (s < 10) return s.toFixed(2) + "s";
  if (s < 120) return s.toFixed(0) + "s";
  if (s < 7200) return (s / 60).toFixed(0) + "m";
  return (s / 3600).toFixed(1) + "h";
}

function show(st) {
  $("name").textContent = st.name;
  $("state").textContent = st.state;
  $("state").className = "state s-" + st.state;
  document.title = st.name + " · understudy";
  const where = [st.file, "pid " + st.pid, "up " + secs(st.uptime_seconds), "web " + (st.web || location.origin + "/")];
  if (st.metrics) where.push("metrics " + st.metrics);
  if (st.socket) where.push("control " + st.socket);
  $("where").textContent = where.join("  ·  ");

  const body = $("children");
  const seen = new Set();
  for (const c of st.children) {
    seen.add(c.path);
    let tr = body.querySelector(`tr[data-path="${CSS.escape(c.path)}"]`);
    if (!tr) tr = newRow(c);
    body.appendChild(tr); // in the status's order
    const name = c.path.slice(c.path.lastIndexOf("/") + 1) + (c.supervisor ? "/" : "");
    const cells = tr.children;
    cells[0].textContent = name;
    cells[0].style.paddingLeft = 0.7 + 1.2 * c.depth + "em";
    cells[0].title = c.path;
    cells[1].textContent = c.state;
    cells[1].className = "state s-" + c.state;
    cells[2].textContent = (c.pid || "-") + (c.node ? " on " + c.node : "");
    cells[2].title = c.node ? "pid on node " + c.node : "";
    cells[3].textContent = c.spares && c.spares.length ? c.spares.join(" ") : "-";
    cells[4].textContent = c.restarts;
    cells[5].textContent = secs(c.uptime_seconds);
    cells[6].textContent = secs(c.heartbeat_age_seconds);
    cells[7].textContent = c.last_exit || "-";
    tr.dataset.state = c.state;
    tr.dataset.pid = c.pid || 0;
    tr.dataset.restarts = c.restarts;
    tr.dataset.incarnation = c.incarnation;
    const stopped = c.state === "terminated";
    for (const b of cells[8].children) {
      b.hidden = (b.dataset.op === "start") !== stopped;
    }
  }
  for (const tr of [...body.children]) {
    if (!seen.has(tr.dataset.path)) tr.remove();
  }
}

function newRow(c) {
  const tr = document.createElement("tr");
  tr.dataset.path = c.path;
  for (const cls of ["", "", "num", "num", "num", "num", "num", "exit", ""]) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    tr.appendChild(td);
  }
  for (const op of ["restart", "stop", "start"]) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.op = op;
    b.textContent = op[0].toUpperCase() + op.slice(1);
    tr.lastChild.appendChild(b);
  }
  return tr;
}

// act asks the tree to restart, stop or start a child.
async function act(op, child, button) {
  button.disabled = true;
  try {
    const r = await fetch("/v1/" + op, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ child: child }),
    });
    const res = await r.json();
    if (!r.ok) throw new Error(res.error || r.statusText);
    logLine(new Date(), res.child + ": " + res.did + (res.pid ? ", pid " + res.pid : ""));
    $("error").textContent = "";
  } catch (e) {
    $("error").textContent = op + " " + child + ": " + e.message;
  } finally {
    button.disabled = false;
    refresh();
  }
}

function logLine(time, text) {
  const li = document.createElement("li");
  li.textContent = time.toTimeString().slice(0, 8) + "." + String(time.getMilliseconds()).padStart(3, "0") + "  " + text;
  const list = $("events");
  list.prepend(li);
  while (list.children.length > maxEvents) list.lastChild.remove();
}

function follow() {
  const es = new EventSource("/v1/events");
  es.onopen = () => {
    $("live").textContent = "events: live";
    $("live").className = "live on";
    refresh();
  };
  es.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    logLine(new Date(ev.time), ev.text);
    refresh();
  };
  es.onerror = () => {
    // EventSource connects again by itself.
    $("live").textContent = "events: disconnected, reconnecting";
    $("live").className = "live off";
  };
}

document.addEventListener("DOMContentLoaded", () => {
  $("children").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-op]");
    if (b) act(b.dataset.op, b.closest("tr").dataset.path, b);
  });
  follow();
  refresh();
  setInterval(refresh, 1000);
});
