// The playground page: it polls /api/state every second and draws each
// pane; typing, clicks and forms are posted to /api/..., which sends them to
// jitbot's real handlers. It draws Slack's Block Kit and Teams' Adaptive
// Cards from what jitbot sent, so what you see is what jitbot said.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// What each pane last drew, so a poll redraws only what changed (and keeps
// what is being typed), and the cards whose Deny form is open.
const drawn = {};
const shown = {};
const slackPeople = [];
let last = null;

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const unentity = (s) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
const emoji = { ":key:": "🔑", ":white_check_mark:": "✅", ":hourglass_flowing_sand:": "⏳", ":no_entry:": "⛔", ":white_circle:": "⚪", ":warning:": "⚠️" };
const emojify = (s) => s.replace(/:[a-z_]+:/g, (m) => emoji[m] || m);

// mrkdwn: Slack's markup. Links are <url|text>; everything else is escaped
// text with *bold*, _italic_, ~strike~, `code` and ```blocks```.
function mrkdwn(src) {
  let out = "";
  const link = /<([^|>]+)(?:\|([^>]+))?>/g;
  let at = 0, m;
  while ((m = link.exec(src))) {
    out += marks(src.slice(at, m.index));
    const url = m[1], label = m[2] || m[1];
    out += /^https?:/.test(url) ? `<a href="${esc(url)}" target="_blank" rel="noopener">${esc(label)}</a>` : esc(label);
    at = link.lastIndex;
  }
  return out + marks(src.slice(at));
}

function marks(s) {
  let h = esc(emojify(unentity(s)));
  h = h.replace(/```([\s\S]+?)```/g, (_, c) => `<pre>${c}</pre>`);
  h = h.replace(/`([^`\n]+)`/g, "<code>$1</code>");
  h = h.replace(/(^|[\s(])\*([^*\n]+)\*(?=[\s).,:;!?]|$)/g, "$1<b>$2</b>");
  h = h.replace(/(^|[\s(])_([^_\n]+)_(?=[\s).,:;!?]|$)/g, "$1<i>$2</i>");
  h = h.replace(/(^|[\s(])~([^~\n]+)~(?=[\s).,:;!?]|$)/g, "$1<s>$2</s>");
  return h.replace(/\n/g, "<br>");
}

function text(t) {
  if (!t) return "";
  return t.type === "mrkdwn" ? mrkdwn(t.text) : esc(emojify(t.text));
}

function button(b) {
  const style = b.style ? " " + b.style : "";
  const confirm = b.confirm ? ` data-confirm="${esc(JSON.stringify(b.confirm))}"` : "";
  return `<button type="button" class="btn${style}" data-action="${esc(b.action_id)}" data-value="${esc(b.value || "")}"${confirm}>${esc(emojify(b.text.text))}</button>`;
}

// blocks draws Block Kit: messages, the Home tab and forms (inputs).
function blocks(list, errors = {}, keep = {}) {
  return (list || []).map((b) => {
    switch (b.type) {
      case "header":
        return `<div class="b-header">${text(b.text)}</div>`;
      case "section": {
        let h = b.text ? `<div class="b-section">${text(b.text)}</div>` : "";
        if (b.fields) h += `<div class="b-fields">${b.fields.map((f) => `<div>${text(f)}</div>`).join("")}</div>`;
        if (b.accessory && b.accessory.type === "button") h += `<div class="b-actions">${button(b.accessory)}</div>`;
        return h;
      }
      case "context":
        return `<div class="b-context">${(b.elements || []).map((e) => (e.type === "image" ? "" : text(e))).join(" ")}</div>`;
      case "actions":
        return `<div class="b-actions">${(b.elements || []).filter((e) => e.type === "button").map(button).join("")}</div>`;
      case "divider":
        return "<hr>";
      case "input":
        return input(b, errors[b.block_id], keep);
      default:
        return "";
    }
  }).join("");
}

function input(b, error, keep) {
  const el = b.element || {};
  const key = `${b.block_id}/${el.action_id}`;
  const kept = keep[key];
  const attrs = `data-block="${esc(b.block_id)}" data-action="${esc(el.action_id)}" data-type="${esc(el.type)}" name="${esc(key)}"`;
  let field = "";
  if (el.type === "plain_text_input") {
    const ph = el.placeholder ? ` placeholder="${esc(el.placeholder.text)}"` : "";
    const value = esc(kept ?? el.initial_value ?? "");
    field = el.multiline ? `<textarea rows="3" ${attrs}${ph}>${value}</textarea>` : `<input ${attrs}${ph} value="${value}">`;
  } else if (el.type === "static_select") {
    const chosen = kept ?? (el.initial_option && el.initial_option.value) ?? "";
    const option = (o) => `<option value="${esc(o.value)}"${o.value === chosen ? " selected" : ""}>${esc(o.text.text)}</option>`;
    let options = `<option value="">${esc(el.placeholder ? el.placeholder.text : "Choose")}</option>`;
    if (el.option_groups) options += el.option_groups.map((g) => `<optgroup label="${esc(g.label.text)}">${g.options.map(option).join("")}</optgroup>`).join("");
    if (el.options) options += el.options.map(option).join("");
    field = `<select ${attrs}>${options}</select>`;
  } else {
    field = `<em>(a ${esc(el.type)} field)</em>`;
  }
  const optional = b.optional ? ' <span class="hint">(optional)</span>' : "";
  return `<div class="b-input"><label>${text(b.label)}${optional}</label>${field}` +
    (b.hint ? `<div class="hint">${text(b.hint)}</div>` : "") +
    (error ? `<div class="field-error">${esc(error)}</div>` : "") + "</div>";
}

// card draws an Adaptive Card; showcards are drawn closed under their
// button, and opened where the person had opened them.
function card(c, where, path = "c") {
  let h = `<div class="ac-card" data-path="${path}">` + (c.body || []).map((e) => element(e)).join("");
  const actions = c.actions || [];
  if (actions.length) {
    h += `<div class="ac-actions">` + actions.map((a, i) => {
      const style = a.style ? " " + a.style : "";
      if (a.type === "Action.ShowCard") return `<button type="button" class="btn${style}" data-showcard="${path}.${i}">${esc(a.title)}</button>`;
      if (a.type === "Action.OpenUrl") return `<a class="btn" href="${esc(a.url)}" target="_blank" rel="noopener">${esc(a.title)}</a>`;
      return `<button type="button" class="btn${style}" data-submit="${esc(JSON.stringify(a.data || {}))}" data-inputs="${esc(a.associatedInputs || "auto")}">${esc(a.title)}</button>`;
    }).join("") + "</div>";
    actions.forEach((a, i) => {
      if (a.type === "Action.ShowCard" && a.card) {
        const open = shown[`${where}/${path}.${i}`];
        h += `<div class="ac-showcard" data-showcard-of="${path}.${i}"${open ? "" : " hidden"}>${card(a.card, where, `${path}.${i}`)}</div>`;
      }
    });
  }
  return h + "</div>";
}

function element(e) {
  switch (e.type) {
    case "TextBlock": {
      const cls = ["ac-text", e.isSubtle ? "subtle" : "", e.separator ? "separator" : ""].join(" ");
      const body = esc(e.text).replace(/\n/g, "<br>");
      return `<div class="${cls}">${e.weight === "Bolder" ? `<b>${body}</b>` : body}</div>`;
    }
    case "RichTextBlock": {
      const cls = ["ac-text", e.separator ? "separator" : ""].join(" ");
      return `<div class="${cls}">` + (e.inlines || []).map((r) => {
        let t = esc(typeof r === "string" ? r : r.text).replace(/\n/g, "<br>");
        if (r.fontType === "Monospace") t = `<code>${t}</code>`;
        if (r.weight === "Bolder") t = `<b>${t}</b>`;
        if (r.isSubtle) t = `<span class="subtle">${t}</span>`;
        if (r.size) t = `<span class="${esc(String(r.size).toLowerCase())}">${t}</span>`;
        return t;
      }).join("") + "</div>";
    }
    case "Container":
      return `<div class="ac-container ${esc(e.style || "")}">${(e.items || []).map(element).join("")}</div>`;
    case "FactSet":
      return `<table>${(e.facts || []).map((f) => `<tr><th>${esc(f.title)}</th><td>${esc(f.value)}</td></tr>`).join("")}</table>`;
    case "Input.Text": {
      const attrs = `data-input="${esc(e.id)}" data-required="${e.isRequired ? 1 : 0}" data-error="${esc(e.errorMessage || "Required")}" placeholder="${esc(e.placeholder || "")}"`;
      const field = e.isMultiline ? `<textarea rows="3" ${attrs}></textarea>` : `<input ${attrs}>`;
      return `<div class="ac-input"><label>${esc(e.label || "")}</label>${field}<div class="field-error"></div></div>`;
    }
    case "Input.ChoiceSet":
      return `<div class="ac-input"><label>${esc(e.label || "")}</label><select data-input="${esc(e.id)}">` +
        (e.choices || []).map((c) => `<option value="${esc(c.value)}">${esc(c.title)}</option>`).join("") + "</select></div>";
    default:
      return "";
  }
}

function time(iso) {
  const d = new Date(iso);
  return isNaN(d) || d.getUTCFullYear() < 2000 ? "" : d.toISOString().slice(11, 16) + " UTC";
}

function message(p, it) {
  const you = it.from === "you";
  const who = you ? "you" : "jitbot";
  const data = [`data-channel="${esc(it.channel || "")}"`, `data-ts="${esc(it.ts || "")}"`, `data-activity="${esc(it.activity || "")}"`].join(" ");
  let body;
  if (it.deleted) body = "(deleted)";
  else if (you) body = `<div class="bubble">${esc(it.text)}</div>`;
  else if (it.cards && it.cards.length) body = it.cards.map((c, i) => card(c, `${p.id}/${it.activity}`, `c${i}`)).join("");
  else if (it.blocks && it.blocks.length) body = blocks(it.blocks);
  else body = p.platform === "teams" ? esc(it.text).replace(/\n/g, "<br>") : mrkdwn(it.text || "");
  const only = it.only ? ' <span class="only-note">· only you can see this</span>' : "";
  const edited = it.edited ? ' <span class="only-note">(edited)</span>' : "";
  const cls = ["msg", you ? "you" : "bot", it.only ? "only" : "", it.deleted ? "deleted" : ""].join(" ");
  return `<div class="${cls}" ${data}><div class="meta"><b>${who}</b> ${time(it.at)}${only}${edited}</div><div class="body">${body}</div></div>`;
}

const examples = {
  slack: ["/access help", "/access request prod/Cluster0/sales/orders read 1h INC-7 why", "/access list", "/access pending", "/access"],
  teams: ["access help", "access request prod/Cluster0/sales/customers read 2h INC-8 why", "access list", "access pending"],
};

function paneShell(p) {
  const el = document.createElement("section");
  el.className = `pane ${p.platform}`;
  el.id = p.id;
  const platform = { slack: "Slack", teams: "Teams", channel: "Slack channel" }[p.platform];
  let head = `<span class="who">${esc(p.name)}</span><span class="platform">${platform}</span><span class="about">${esc(p.about)}</span>`;
  if (p.platform === "slack") head += `<nav class="tabs"><button type="button" class="on" data-tab="messages">Messages</button><button type="button" data-tab="home">Home</button></nav>`;
  if (p.platform === "channel") head += `<label>click its buttons as <select class="as">${slackPeople.map((s) => `<option value="${esc(s.id)}"${s.name === "olivia" ? " selected" : ""}>${esc(s.name)}</option>`).join("")}</select></label>`;
  let foot = "";
  if (p.platform !== "channel") {
    const ph = p.platform === "slack" ? "/access request prod/Cluster0/sales/orders read 1h INC-7 why" : "access help";
    foot = `<form class="composer"><input name="text" autocomplete="off" placeholder="${esc(ph)}"><button class="btn primary">Send</button></form>` +
      `<div class="examples">${examples[p.platform].map((x) => `<button type="button" data-example="${esc(x)}">${esc(x.length > 34 ? x.slice(0, 32) + "…" : x)}</button>`).join("")}</div>`;
  }
  el.innerHTML = `<header>${head}</header><div class="timeline"></div><div class="home" hidden></div><div class="form" hidden></div>${foot}<div class="error"></div>`;
  return el;
}

function drawPane(p) {
  let el = document.getElementById(p.id);
  if (!el) {
    el = paneShell(p);
    $("#panes").appendChild(el);
  }
  const was = drawn[p.id] || {};
  const items = JSON.stringify(p.items || []);
  if (items !== was.items) {
    const tl = $(".timeline", el);
    const atEnd = tl.scrollHeight - tl.scrollTop - tl.clientHeight < 40;
    const typed = {};
    $$("[data-input]", tl).forEach((i) => { typed[i.closest("[data-activity]").dataset.activity + "/" + i.dataset.input] = i.value; });
    tl.innerHTML = (p.items || []).map((it) => message(p, it)).join("") || `<p class="empty">Nothing yet.</p>`;
    $$("[data-input]", tl).forEach((i) => { const v = typed[i.closest("[data-activity]").dataset.activity + "/" + i.dataset.input]; if (v) i.value = v; });
    if (atEnd || !was.items) tl.scrollTop = tl.scrollHeight;
  }
  const home = JSON.stringify(p.home || null);
  if (home !== was.home) {
    $(".home", el).innerHTML = p.home ? blocks(p.home.view.blocks) : `<p class="empty">Opening the Home tab asks jitbot to draw it.</p>`;
    $(".home", el).dataset.view = p.home ? p.home.id : "";
  }
  const form = JSON.stringify(p.form || null);
  if (form !== was.form) drawForm(el, p.form);
  drawn[p.id] = { items, home, form };
}

function drawForm(el, f) {
  const box = $(".form", el);
  if (!f) {
    box.hidden = true;
    box.innerHTML = "";
    return;
  }
  const keep = {};
  if (box.dataset.view === f.id) $$("[data-block]", box).forEach((i) => { keep[i.name] = i.value; });
  const v = f.view;
  box.dataset.view = f.id;
  box.innerHTML = `<div class="title">${text(v.title)}</div><div class="fields">${blocks(v.blocks, f.errors || {}, keep)}</div>` +
    `<div class="buttons"><button type="button" class="btn" data-dismiss>${text(v.close) || "Cancel"}</button>` +
    (v.submit ? `<button type="button" class="btn primary" data-form-submit>${text(v.submit)}</button>` : "") + "</div>";
  box.hidden = false;
}

function drawSide(st) {
  $("#project").textContent = st.project;
  const users = st.atlas || [];
  $("#atlas-users").innerHTML = users.length
    ? `<table><tr><th>user</th><th>role</th><th>Atlas deletes it at</th></tr>${users.map((u) =>
      `<tr><td><code>${esc(u.username)}</code></td><td>${esc((u.roles || []).join(", "))}<br><span class="hint">on ${esc((u.scopes || []).join(", "))}</span></td><td>${esc(time(u.delete_after))}</td></tr>`).join("")}</table>`
    : `<p class="empty">No database users: nobody has access.</p>`;
  const grants = st.grants || [];
  $("#grants").innerHTML = grants.length
    ? `<table><tr><th>id</th><th>state</th><th>who, what</th><th>ends</th></tr>${grants.map((g) =>
      `<tr><td><code>${esc(g.id)}</code></td><td><span class="state ${esc(g.state)}">${esc(g.state)}</span></td><td>${esc(g.requester)}<br>${esc(g.role)} on ${esc(g.resource)}</td><td>${esc(time(g.expires_at))}</td></tr>`).join("")}</table>`
    : `<p class="empty">No requests yet.</p>`;
  $("#clock").textContent = "demo time " + new Date(st.now).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  $("#advance").hidden = !st.can_advance;
}

async function refresh() {
  let st;
  try {
    const r = await fetch("api/state");
    if (!r.ok) throw new Error(await r.text());
    st = await r.json();
  } catch (e) {
    $("#offline").hidden = false;
    return;
  }
  $("#offline").hidden = true;
  if (!slackPeople.length) st.panes.filter((p) => p.platform === "slack").forEach((p) => slackPeople.push(p));
  st.panes.forEach(drawPane);
  drawSide(st);
  last = st;
}

async function post(path, body, el) {
  const err = el && $(".error", el.closest(".pane") || el);
  if (err) err.textContent = "";
  try {
    const r = await fetch("api/" + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const answer = await r.json();
    if (!r.ok) throw new Error(answer.error || r.statusText);
  } catch (e) {
    if (err) err.textContent = e.message;
  }
  await refresh();
}

function paneOf(el) {
  const pane = el.closest(".pane");
  return pane && last && last.panes.find((p) => p.id === pane.id);
}

document.addEventListener("submit", (ev) => {
  const form = ev.target.closest(".composer");
  if (!form) return;
  ev.preventDefault();
  const p = paneOf(form);
  const input = form.elements.text;
  const said = input.value.trim();
  if (!said) return;
  input.value = "";
  post(p.platform === "slack" ? "slack/command" : "teams/say", { pane: p.id, text: said }, form);
});

document.addEventListener("click", (ev) => {
  const t = ev.target.closest("button");
  if (!t) return;
  const pane = t.closest(".pane");
  if (t.dataset.minutes) return void post("advance", { minutes: Number(t.dataset.minutes) });
  if (!pane) return;
  const p = paneOf(t);
  if (t.dataset.example) {
    const input = $(".composer input", pane);
    input.value = t.dataset.example;
    input.focus();
    return;
  }
  if (t.dataset.tab) {
    $$(".tabs button", pane).forEach((b) => b.classList.toggle("on", b === t));
    const home = t.dataset.tab === "home";
    $(".timeline", pane).hidden = home;
    $(".home", pane).hidden = !home;
    if (home) post("slack/home", { pane: p.id }, t);
    return;
  }
  if (t.dataset.showcard) {
    const where = `${p.id}/${t.closest("[data-activity]").dataset.activity}`;
    const box = $(`[data-showcard-of="${t.dataset.showcard}"]`, t.closest(".msg"));
    box.hidden = !box.hidden;
    shown[`${where}/${t.dataset.showcard}`] = !box.hidden;
    return;
  }
  if (t.dataset.submit) return void teamsSubmit(p, t);
  if (t.hasAttribute("data-dismiss")) return void post("slack/dismiss", { pane: p.id, view_id: $(".form", pane).dataset.view }, t);
  if (t.hasAttribute("data-form-submit")) {
    const box = $(".form", pane);
    const inputs = $$("[data-block]", box).map((i) => ({ block_id: i.dataset.block, action_id: i.dataset.action, type: i.dataset.type, value: i.value }));
    return void post("slack/submit", { pane: p.id, view_id: box.dataset.view, inputs }, t);
  }
  if (t.dataset.yes) return void slackClick(p, t.closest(".confirm").previousElementSibling, pane);
  if (t.dataset.no) return void t.closest(".confirm").remove();
  if (t.dataset.action !== undefined && p.platform !== "teams") {
    if (t.dataset.confirm && !t.nextElementSibling?.classList.contains("confirm")) {
      const c = JSON.parse(t.dataset.confirm);
      t.insertAdjacentHTML("afterend", `<div class="confirm"><b>${text(c.title)}</b><div>${text(c.text)}</div>` +
        `<div class="b-actions"><button type="button" class="btn primary" data-yes="1">${text(c.confirm)}</button><button type="button" class="btn" data-no="1">${text(c.deny)}</button></div></div>`);
      return;
    }
    slackClick(p, t, pane);
  }
});

function slackClick(p, t, pane) {
  const msg = t.closest(".msg");
  const body = { pane: p.id, action_id: t.dataset.action, value: t.dataset.value };
  if (t.closest(".home")) body.view_id = $(".home", pane).dataset.view;
  else if (msg) Object.assign(body, { channel: msg.dataset.channel, ts: msg.dataset.ts });
  if (p.platform === "channel") body.as = $(".as", pane).value;
  post("slack/click", body, t);
}

// teamsSubmit sends a card's button with the inputs Teams would gather:
// those of the card holding it and of the cards around it, unless the
// button says none.
function teamsSubmit(p, t) {
  const msg = t.closest(".msg");
  const inputs = [];
  let ok = true;
  if (t.dataset.inputs !== "none") {
    for (let c = t.closest(".ac-card"); c; c = c.parentElement.closest(".ac-card")) {
      $$(":scope > .ac-input [data-input], :scope > * .ac-input [data-input]", c).forEach((i) => {
        if (inputs.some((x) => x.action_id === i.dataset.input)) return;
        const err = i.parentElement.querySelector(".field-error");
        if (err) err.textContent = "";
        if (i.dataset.required === "1" && !i.value.trim() && i.closest(".ac-card") === t.closest(".ac-card")) {
          if (err) err.textContent = i.dataset.error;
          ok = false;
        }
        inputs.push({ action_id: i.dataset.input, value: i.value });
      });
    }
  }
  if (!ok) return;
  post("teams/submit", { pane: p.id, activity_id: msg.dataset.activity, data: JSON.parse(t.dataset.submit), inputs }, t);
}

refresh();
setInterval(refresh, 1000);
