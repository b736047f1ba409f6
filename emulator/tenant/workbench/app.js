// The workbench's behaviour: views over the tenant's HTTP API (docs/tenant-api.md), kept current by
// its server-sent events. Rule: text from a message, the trace or the tenant only ever reaches the
// page as text (textContent, attribute values), never as HTML; every action is a link or a button,
// so the keyboard reaches all of it.
"use strict";

const PAGE = 50;
const state = { view: "mail", mailbox: null, folder: null, key: null, offset: 0, traceOffset: 0,
                traceQuery: "", traceSelected: null, mailboxes: [], traceRecords: [] };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || ("HTTP " + response.status));
  return answer;
}

function notice(text) {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.hidden = !text;
}

function size(bytes) {
  if (bytes < 1024) return bytes + " B";
  if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
  return (bytes / 1024 / 1024).toFixed(1) + " MB";
}

function q(params) {
  return Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&");
}

function where(mailbox, folder, key) {
  return q({ mailbox, folder: mailbox === "internet" ? null : folder, key });
}

// ---------------------------------------------------------------- routing
function route() {
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const [view, ...rest] = hash.split("/");
  state.view = ["mail", "trace", "tenant"].includes(view) ? view : "mail";
  for (const name of ["mail", "trace", "tenant"]) {
    document.getElementById("view-" + name).hidden = name !== state.view;
    const link = document.getElementById("nav-" + name);
    if (name === state.view) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  if (state.view === "mail") {
    // #/mail/<mailbox>/<folder>/<key>; an address has no "/", a folder name neither
    const [mailbox, folder, key] = [rest[0] || null, rest[1] || null, rest[2] || null];
    if (mailbox !== state.mailbox || folder !== state.folder) state.offset = 0;
    state.mailbox = mailbox; state.folder = folder; state.key = key;
    showMail();
  } else if (state.view === "trace") {
    showTrace();
  } else {
    showTenant();
  }
}

function mailHash(mailbox, folder, key) {
  return "#/mail/" + [mailbox, folder, key].filter(Boolean).map(encodeURIComponent).join("/");
}

// ---------------------------------------------------------------- mail
async function loadMailboxes() {
  state.mailboxes = await api("GET", "/api/mailboxes");
  const nav = document.getElementById("mailboxes");
  nav.replaceChildren(...state.mailboxes.map((box) => el("section", {},
    el("h3", { text: box.address + (box.kind === "user" || box.kind === "internet" ? "" : " (" + box.kind + ")") }),
    el("ul", {}, Object.entries(box.folders).map(([folder, count]) => el("li", {},
      el("a", { href: mailHash(box.address, folder), id: "folder-" + box.address + "-" + folder,
                "aria-current": box.address === state.mailbox && folder === state.folder ? "true" : null },
        el("span", { text: box.address === "internet" ? "Relayed out" : folder }),
        el("span", { class: "count" + (count ? " some" : ""), text: String(count) }))))))));
}

async function showMail() {
  await loadMailboxes();
  if (!state.mailbox) {
    const first = state.mailboxes.find((b) => b.folders.Inbox > 0) || state.mailboxes[0];
    if (first) { location.replace(mailHash(first.address, "Inbox")); return; }
  }
  await loadFolder();
  await loadMessage();
}

async function loadFolder() {
  const list = document.getElementById("messages");
  if (!state.mailbox) return;
  const page = await api("GET", "/api/folder?" + q({ mailbox: state.mailbox, folder: state.mailbox === "internet" ? null : state.folder,
                                                      offset: state.offset, limit: PAGE }));
  document.getElementById("folder-title").textContent =
    state.mailbox + (state.mailbox === "internet" ? " (relayed out)" : " / " + state.folder) + " (" + page.total + ")";
  list.replaceChildren(...page.messages.map((m) => el("li", {},
    el("a", { href: mailHash(state.mailbox, state.folder || "Inbox", m.key), "data-key": m.key, class: "msg",
              "aria-current": m.key === state.key ? "true" : null },
      el("span", { class: "from", text: m.from || "(no sender)" }),
      el("span", { class: "date", text: shortDate(m.date) }),
      el("span", { class: "subject", text: m.subject || "(no subject)" }),
      el("span", { class: "size", text: size(m.size) + (m.has_attachments ? ", files" : "") })))));
  if (!page.messages.length) list.replaceChildren(el("li", { class: "hint", text: "No messages." }));
  const pager = document.getElementById("pager");
  const last = Math.min(page.offset + page.messages.length, page.total);
  pager.replaceChildren(
    el("button", { type: "button", disabled: page.offset === 0, text: "Newer",
                   onclick: () => { state.offset = Math.max(0, state.offset - PAGE); loadFolder(); } }),
    el("span", { text: page.total ? (page.offset + 1) + "\u2013" + last + " of " + page.total : "" }),
    el("button", { type: "button", disabled: last >= page.total, text: "Older",
                   onclick: () => { state.offset += PAGE; loadFolder(); } }));
}

function shortDate(text) {
  const moment = new Date(text);
  return isNaN(moment) ? text : moment.toISOString().replace("T", " ").slice(0, 19);
}

async function loadMessage() {
  const box = document.getElementById("message");
  if (!state.key) {
    box.replaceChildren(el("p", { class: "hint", text: "Choose a message (j/k, Enter)." }));
    return;
  }
  let m;
  try {
    m = await api("GET", "/api/message?" + where(state.mailbox, state.folder, state.key));
  } catch (error) {
    box.replaceChildren(el("p", { class: "hint", text: error.message }));
    return;
  }
  const base = where(state.mailbox, state.folder, state.key);
  const header = (name) => (m.headers.find(([n]) => n.toLowerCase() === name.toLowerCase()) || [null, ""])[1];
  const junk = m.antispam.verdict.startsWith("Junk");
  const attachments = m.parts.filter((p) => !p.is_body);
  const previews = [];
  for (const part of attachments) {
    const url = "/api/message/part?" + base + "&part=" + part.index;
    if (part.content_type === "application/pdf") {
      previews.push(el("iframe", { class: "pdf", src: url, title: "PDF " + (part.filename || "attachment") }));
    } else if (part.content_type === "image/jpeg" || part.content_type === "image/png" || part.content_type === "image/gif") {
      previews.push(el("img", { class: "page", src: url, alt: part.filename || "image" }));
    }
  }
  box.replaceChildren(
    el("div", { class: "toolbar" },
      el("h2", { id: "message-subject", text: m.subject || "(no subject)" }),
      el("button", { type: "button", class: "danger", id: "delete-message", text: "Delete",
                     onclick: deleteMessage })),
    el("table", { class: "summary" }, ["From", "To", "Cc", "Date", "Message-ID"].filter((n) => header(n))
      .map((n) => el("tr", {}, el("th", { text: n }), el("td", { text: header(n) })))),
    el("h3", { text: "Why it landed here" }),
    el("p", { class: "verdict" + (junk ? " junk" : ""), id: "verdict", text: m.antispam.verdict }),
    m.antispam.notes.length ? el("details", {}, el("summary", { text: "Anti-spam headers explained" }),
      el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, el("th", { text: "Header" }), el("th", { text: "Field" }), el("th", { text: "Value" }), el("th", { text: "Meaning" }))),
        el("tbody", {}, m.antispam.notes.map((n) => el("tr", {},
          el("td", { text: n.header }), el("td", { text: n.field }), el("td", { text: n.value }), el("td", { text: n.meaning }))))))) : null,
    el("h3", { text: "Body" }),
    el("pre", { id: "message-body", text: m.body || "(empty)" }),
    el("h3", { text: "Attachments (" + attachments.length + ")" }),
    el("ul", { class: "attachments", id: "attachments" }, attachments.map((p) => el("li", {},
      el("a", { href: "/api/message/part?" + base + "&part=" + p.index + "&download=1",
                download: p.filename || "", text: p.filename || ("part " + p.index) }),
      el("span", { class: "meta", text: p.content_type + ", " + size(p.size) })))),
    ...previews,
    el("details", { id: "all-headers" }, el("summary", { text: "All headers (" + m.headers.length + ")" }),
      el("div", { class: "table-wrap" }, el("table", {}, m.headers.map(([n, v]) => el("tr", {}, el("th", { text: n }), el("td", { text: v })))))),
    el("details", { id: "raw-source", ontoggle: (event) => loadSource(event.target, base) },
      el("summary", { text: "Raw source (" + size(m.size) + ")" }),
      el("a", { href: "/api/message/source?" + base + "&download=1", text: "Download .eml" }),
      el("pre", { class: "source" })));
}

async function loadSource(details, base) {
  if (!details.open) return;
  const response = await fetch("/api/message/source?" + base);
  details.querySelector("pre.source").textContent = await response.text();
}

async function deleteMessage() {
  if (!state.key) return;
  const next = neighbour(1) || neighbour(-1);
  await api("DELETE", "/api/message?" + where(state.mailbox, state.folder, state.key));
  location.hash = mailHash(state.mailbox, state.folder, next);
}

async function emptyFolder() {
  if (!state.mailbox) return;
  const label = state.mailbox + (state.mailbox === "internet" ? "" : " / " + state.folder);
  if (!confirm("Delete every message in " + label + "?")) return;
  const answer = await api("DELETE", "/api/folder?" + where(state.mailbox, state.folder));
  notice("Deleted " + answer.deleted + " message(s) from " + label + ".");
  location.hash = mailHash(state.mailbox, state.folder);
}

function neighbour(step) {
  const keys = [...document.querySelectorAll("#messages a.msg")].map((a) => a.dataset.key);
  const at = keys.indexOf(state.key);
  if (at < 0) return keys[step > 0 ? 0 : keys.length - 1] || null;
  return keys[at + step] || null;
}

// ---------------------------------------------------------------- trace
function traceFilters() {
  const form = document.getElementById("trace-filters");
  return Object.fromEntries(new FormData(form).entries());
}

async function showTrace() {
  const page = await api("GET", "/api/trace/search?" + q(Object.assign(traceFilters(), { offset: state.traceOffset, limit: PAGE })));
  state.traceRecords = page.records;
  const body = document.querySelector("#trace-table tbody");
  body.replaceChildren(...page.records.map((r) => el("tr", {
      tabindex: "0", "data-id": String(r.id), "aria-selected": r.id === state.traceSelected ? "true" : "false",
      onclick: () => openConversation(r.id), onkeydown: (e) => { if (e.key === "Enter") openConversation(r.id); } },
    el("td", { text: r.time.replace("T", " ").replace("Z", "") }),
    el("td", { text: r.sender || "<>" }),
    el("td", { text: (r.recipients || []).join(", ") }),
    el("td", { text: r.method }),
    el("td", { text: r.client_ip }),
    el("td", { class: "status-" + r.status, text: r.status }),
    el("td", { class: "reply", title: r.reply, text: r.reply }))));
  if (!page.records.length) body.replaceChildren(el("tr", {}, el("td", { colspan: "7", class: "hint", text: "No trace records match." })));
  const last = Math.min(page.offset + page.records.length, page.total);
  document.getElementById("trace-pager").replaceChildren(
    el("button", { type: "button", disabled: page.offset === 0, text: "Newer",
                   onclick: () => { state.traceOffset = Math.max(0, state.traceOffset - PAGE); showTrace(); } }),
    el("span", { text: page.total ? (page.offset + 1) + "\u2013" + last + " of " + page.total : "" }),
    el("button", { type: "button", disabled: last >= page.total, text: "Older",
                   onclick: () => { state.traceOffset += PAGE; showTrace(); } }));
}

function openConversation(id) {
  state.traceSelected = id;
  const record = state.traceRecords.find((r) => r.id === id);
  for (const row of document.querySelectorAll("#trace-table tbody tr")) {
    row.setAttribute("aria-selected", row.dataset.id === String(id) ? "true" : "false");
  }
  const box = document.getElementById("conversation");
  if (!record) { box.hidden = true; return; }
  const facts = [["Endpoint", record.endpoint], ["TLS", record.tls], ["Status", record.status],
                 ["Folders", (record.folders || []).join(", ")], ["Message-ID", record.message_id],
                 ["Size", record.size !== undefined ? size(record.size) : ""], ["SPF", record.spf], ["Stage", record.stage]];
  box.replaceChildren(
    el("h2", { text: "Conversation: " + (record.sender || "<>") + " \u2192 " + (record.recipients || []).join(", ") }),
    el("table", {}, facts.filter(([, v]) => v).map(([n, v]) => el("tr", {}, el("th", { text: n }), el("td", { text: String(v) })))),
    el("pre", { id: "conversation-lines", text: (record.conversation || ["S: " + record.reply]).join("\n") }));
  box.hidden = false;
  box.focus();
}

// ---------------------------------------------------------------- tenant
async function showTenant() {
  const [tenant, faults] = await Promise.all([api("GET", "/api/tenant"), api("GET", "/api/faults")]);
  const view = document.getElementById("view-tenant");
  const saved = el("span", { class: "saved", role: "status", id: "tenant-saved", text: state.tenantSaved || "" });
  const change = async (changes, what) => {
    try {
      await api("POST", "/api/tenant", changes);
      const value = JSON.stringify(Object.values(Object.values(changes)[0])[0]);
      state.tenantSaved = "Saved " + what + " = " + value + ": the next SMTP session sees it.";
      document.getElementById("tenant-saved").textContent = state.tenantSaved;
    } catch (error) {
      state.tenantSaved = "";
      notice(error.message);
      showTenant();
    }
  };
  const sw = tenant.switches;
  const check = (name, label) => el("label", {}, el("input", { type: "checkbox", id: "switch-" + name, checked: sw[name],
    onchange: (e) => change({ switches: { [name]: e.target.checked } }, label) }), " " + label);
  const choose = (name, label, options) => el("label", {}, label + " ", el("select", { id: "switch-" + name,
    onchange: (e) => change({ switches: { [name]: e.target.value } }, label) },
    options.map((o) => el("option", { value: o, selected: o === sw[name], text: o }))));
  view.replaceChildren(
    el("section", {}, el("h2", { text: "Tenant " + tenant.name }), saved,
      el("p", { text: "Accepted domains: " + tenant.accepted_domains.join(", ") }),
      el("p", { text: "Hosts: submission " + tenant.hosts.submission + ", MX " + tenant.hosts.mx + ", HVE " + tenant.hosts.hve })),
    el("section", {}, el("h3", { text: "Tenant switches" }),
      el("p", {}, check("smtp_auth", "SMTP AUTH (client submission) allowed")),
      el("p", {}, check("reject_direct_send", "RejectDirectSend")),
      el("p", {}, check("security_defaults", "Security defaults")),
      el("p", {}, choose("basic_auth", "Basic authentication", ["enabled", "disabled", "retired"])),
      el("p", {}, choose("min_tls", "Minimum TLS version", ["1.0", "1.1", "1.2", "1.3"]))),
    el("section", {}, el("h3", { text: "Mailboxes" }), el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Address", "Kind", "SMTP AUTH", "Licensed", "MFA required", "Send As"].map((h) => el("th", { text: h })))),
      el("tbody", {}, tenant.mailboxes.map((m) => el("tr", {},
        el("td", { text: m.address }), el("td", { text: m.kind }),
        el("td", {}, el("select", { "aria-label": "SMTP AUTH for " + m.address, id: "mailbox-smtp_auth-" + m.address,
          onchange: (e) => change({ mailboxes: { [m.address]: { smtp_auth: JSON.parse(e.target.value) } } }, "SMTP AUTH of " + m.address) },
          [["null", "follow the tenant"], ["true", "on"], ["false", "off"]].map(([v, t]) =>
            el("option", { value: v, selected: JSON.stringify(m.smtp_auth) === v, text: t })))),
        el("td", {}, el("input", { type: "checkbox", "aria-label": "Licensed: " + m.address, checked: m.licensed,
          onchange: (e) => change({ mailboxes: { [m.address]: { licensed: e.target.checked } } }, "licence of " + m.address) })),
        el("td", {}, el("input", { type: "checkbox", "aria-label": "MFA required: " + m.address, checked: m.mfa_required,
          onchange: (e) => change({ mailboxes: { [m.address]: { mfa_required: e.target.checked } } }, "MFA of " + m.address) })),
        el("td", { text: m.send_as.join(", ") }))))))),
    el("section", {}, el("h3", { text: "Connectors (relay)" }), tenant.connectors.length ? tenant.connectors.map((c) => {
      const input = el("input", { type: "text", value: c.source_ips.join(", "), "aria-label": "Source IPs of " + c.name });
      return el("form", { onsubmit: (e) => { e.preventDefault();
          change({ connectors: { [c.name]: { source_ips: input.value.split(",").map((s) => s.trim()).filter(Boolean) } } }, "connector " + c.name); } },
        el("p", { text: c.name + (c.certificate_domain ? " (certificate domain " + c.certificate_domain + ")" : "") }),
        input, el("button", { type: "submit", text: "Save source IPs" }));
    }) : el("p", { class: "hint", text: "No connectors." })),
    el("section", {}, el("h3", { text: "SPF records" }), Object.entries(tenant.spf).map(([domain, record]) => {
      const input = el("input", { type: "text", value: record, "aria-label": "SPF record of " + domain, id: "spf-" + domain });
      return el("form", { onsubmit: (e) => { e.preventDefault(); change({ spf: { [domain]: input.value } }, "SPF of " + domain); } },
        el("p", { text: domain }), input, el("button", { type: "submit", text: "Save SPF" }));
    })),
    faultSection(faults));
}

function faultSection(faults) {
  const stage = el("select", { name: "stage", "aria-label": "Stage" },
    ["connect", "greeting", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "end_of_data"].map((s) => el("option", { text: s })));
  const action = el("select", { name: "action", "aria-label": "Action" }, ["reply", "drop", "delay", "tls_fail"].map((s) => el("option", { text: s })));
  const reply = el("input", { type: "text", name: "reply", "aria-label": "Reply", placeholder: "451 4.7.500 Server busy. Please try again later" });
  const nth = el("input", { type: "number", name: "nth", min: "1", "aria-label": "Only the n-th time", placeholder: "n-th" });
  const endpoint = el("select", { name: "endpoint", "aria-label": "Endpoint" }, ["all", "submission", "mx", "hve"].map((s) => el("option", { text: s })));
  const add = async (e) => {
    e.preventDefault();
    const body = { stage: stage.value, action: action.value, endpoint: endpoint.value };
    if (reply.value) body.reply = reply.value;
    if (nth.value) body.nth = Number(nth.value);
    if (action.value === "delay") body.delay_s = 5;
    try { await api("POST", "/api/faults", body); notice(""); } catch (error) { notice(error.message); }
    showTenant();
  };
  return el("section", {}, el("h3", { text: "Faults" }),
    faults.length ? el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["#", "Stage", "Action", "Endpoint", "When", "Reply", "Fired"].map((h) => el("th", { text: h })))),
      el("tbody", {}, faults.map((f) => el("tr", {}, el("td", { text: String(f.id) }), el("td", { text: f.stage }),
        el("td", { text: f.action }), el("td", { text: f.endpoint }), el("td", { text: f.nth ? "only the " + f.nth + "th time" : "every time" }),
        el("td", { text: f.reply || "" }), el("td", { text: f.fired + "/" + f.seen }))))))
      : el("p", { class: "hint", text: "No faults: the tenant behaves." }),
    el("form", { class: "filters", onsubmit: add }, stage, action, reply, nth, endpoint, el("button", { type: "submit", text: "Add fault" }),
      el("button", { type: "button", class: "danger", text: "Clear faults",
                     onclick: async () => { await api("DELETE", "/api/faults"); showTenant(); } })));
}

// ---------------------------------------------------------------- live
let refreshing = null;
let again = false;

function refresh() {
  // One refresh at a time; events during one make exactly one more afterwards.
  if (refreshing) { again = true; return; }
  refreshing = (async () => {
    try {
      if (state.view === "mail") {
        await loadMailboxes();
        if (state.offset === 0) await loadFolder();
      } else if (state.view === "trace") {
        if (state.traceOffset === 0) await showTrace();
      }
    } catch (error) {
      notice(error.message);
    }
  })().finally(() => {
    refreshing = null;
    if (again) { again = false; refresh(); }
  });
}

function listen() {
  const live = document.getElementById("live");
  const events = new EventSource("/api/events");
  events.onopen = () => { live.textContent = "live"; live.className = "on"; };
  events.onerror = () => { live.textContent = "reconnecting"; live.className = ""; };
  events.addEventListener("trace", refresh);
  events.addEventListener("mail", refresh);
  for (const name of ["reset", "resync", "tenant"]) {
    events.addEventListener(name, () => { if (state.view === "tenant") showTenant(); else route(); });
  }
}

// ---------------------------------------------------------------- keys
function onKey(event) {
  const target = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (target.matches("input, select, textarea")) {
    if (event.key === "Escape") target.blur();
    return;
  }
  const go = { m: "#/mail", t: "#/trace", s: "#/tenant" }[event.key];
  if (go) { location.hash = go; event.preventDefault(); return; }
  if (state.view === "mail") {
    if (event.key === "j" || event.key === "k") {
      const key = neighbour(event.key === "j" ? 1 : -1);
      if (key) location.hash = mailHash(state.mailbox, state.folder, key);
      event.preventDefault();
    } else if (event.key === "Delete" || event.key === "#") {
      deleteMessage();
    } else if (event.key === "u") {
      const details = document.getElementById("raw-source");
      if (details) { details.open = !details.open; details.scrollIntoView(); }
    }
  } else if (state.view === "trace") {
    if (event.key === "/") {
      document.querySelector("#trace-filters input").focus();
      event.preventDefault();
    } else if (event.key === "j" || event.key === "k") {
      const rows = [...document.querySelectorAll("#trace-table tbody tr[data-id]")];
      const at = rows.indexOf(document.activeElement);
      const next = rows[Math.max(0, Math.min(rows.length - 1, at + (event.key === "j" ? 1 : -1)))];
      if (next) next.focus();
      event.preventDefault();
    }
  }
}

async function start() {
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", route);
  document.getElementById("empty-folder").addEventListener("click", emptyFolder);
  document.getElementById("reset").addEventListener("click", async () => {
    if (!confirm("Reset the tenant: empty every mailbox, the trace and the faults, and put the tenant file's switches back?")) return;
    await api("POST", "/api/reset");
    notice("The tenant was reset.");
  });
  const filters = document.getElementById("trace-filters");
  filters.addEventListener("submit", (e) => { e.preventDefault(); state.traceOffset = 0; showTrace(); });
  filters.addEventListener("reset", () => setTimeout(() => { state.traceOffset = 0; showTrace(); }));
  filters.addEventListener("change", () => { state.traceOffset = 0; showTrace(); });
  api("GET", "/api/tenant").then((t) => { document.getElementById("tenant-name").textContent = t.name; });
  listen();
  route();
}

start();
