// The facilitator's room: plain JavaScript, no build step. Every API call carries Telegram's signed
// initData in the Authorization header (never in a URL). User text is always set as text, never HTML.
"use strict";

(function () {
  const state = { seq: 0, initData: "", lang: "fi", texts: {}, process: null, processes: [], view: "overview", stack: [] };
  const main = document.getElementById("view");
  const statusLine = document.getElementById("status");

  function webApp() {
    return window.Telegram && window.Telegram.WebApp ? window.Telegram.WebApp : null;
  }

  function fragment() {
    return new URLSearchParams(window.location.hash.replace(/^#/, ""));
  }

  // Telegram's script when it loaded, else the tgWebAppData Telegram puts in the URL fragment.
  function readInitData() {
    const app = webApp();
    if (app && app.initData) return app.initData;
    return fragment().get("tgWebAppData") || "";
  }

  function clientLanguage(initData) {
    try {
      const user = JSON.parse(new URLSearchParams(initData).get("user") || "{}");
      return (user.language_code || navigator.language || "fi").slice(0, 2);
    } catch (error) {
      return "fi";
    }
  }

  const THEME_KEYS = {
    bg_color: "--tg-bg", text_color: "--tg-text", hint_color: "--tg-hint", link_color: "--tg-link",
    button_color: "--tg-button", button_text_color: "--tg-button-text",
    secondary_bg_color: "--tg-secondary-bg", destructive_text_color: "--tg-destructive",
  };

  function themeParams() {
    const app = webApp();
    if (app && app.themeParams && Object.keys(app.themeParams).length) return app.themeParams;
    try {
      return JSON.parse(fragment().get("tgWebAppThemeParams") || "{}");
    } catch (error) {
      return {};
    }
  }

  function applyTheme() {
    const params = themeParams();
    const root = document.documentElement;
    let themed = false;
    for (const [key, variable] of Object.entries(THEME_KEYS)) {
      if (typeof params[key] === "string" && /^#[0-9a-fA-F]{3,8}$/.test(params[key])) {
        root.style.setProperty(variable, params[key]);
        themed = true;
      }
    }
    root.classList.toggle("themed", themed);
    const app = webApp();
    const scheme = app && app.colorScheme ? app.colorScheme : fragment().get("tgWebAppColorScheme");
    root.classList.toggle("dark", scheme === "dark");
  }

  function fill(text, params) {
    for (const [name, value] of Object.entries(params || {})) text = text.split("{" + name + "}").join(String(value));
    return text;
  }

  function t(key, params) {
    const text = state.texts[key];
    return fill(typeof text === "string" ? text : key, params);
  }

  // A counted text: its forms come by CLDR plural category, as the browser's Intl.PluralRules names them.
  function tn(key, count, params) {
    const forms = state.texts[key];
    if (!forms || typeof forms !== "object") return fill(key, params);
    const category = new Intl.PluralRules(state.lang).select(count);
    return fill(forms[category] || forms.other || key, Object.assign({ count: count }, params || {}));
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function say(text, isError) {
    statusLine.textContent = text || "";
    statusLine.classList.toggle("error", Boolean(isError));
  }

  async function api(path, options) {
    const init = Object.assign({ headers: {} }, options || {});
    init.headers = Object.assign({ Authorization: "tma " + state.initData }, init.headers);
    if (init.json !== undefined) {
      init.method = init.method || "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(init.json);
      delete init.json;
    }
    const asked = state.seq;
    const response = await fetch(path, init);
    current(asked);
    if (response.status === 401 || response.status === 403) throw Object.assign(new Error("refused"), { refused: true });
    return response;
  }

  // A tab chosen meanwhile wins: an answer for the one left behind is not shown. Checked again once
  // the body has arrived, which can be after the next tab was chosen.
  function current(asked) {
    if (asked !== state.seq) throw Object.assign(new Error("stale"), { stale: true });
  }

  async function json(path, options) {
    const asked = state.seq;
    const response = await api(path, options);
    const body = await response.json().catch(() => ({}));
    current(asked);
    return { ok: response.ok, status: response.status, body };
  }

  function base() {
    return "api/p/" + state.process + "/";
  }

  function refuse() {
    document.getElementById("tabs").hidden = true;
    main.replaceChildren(el("p", { class: "card", id: "refused", text: t("room.ui.refused") }));
  }

  async function loadTexts(lang) {
    const response = await fetch("api/texts/" + encodeURIComponent(lang));
    const body = await response.json();
    state.lang = body.lang;
    state.texts = body.texts;
    document.documentElement.lang = body.lang;
  }

  // ---- navigation: tabs, and Telegram's back button for anything opened from a view ----
  function backButton() {
    const app = webApp();
    return app && app.BackButton ? app.BackButton : null;
  }

  function updateBack() {
    const back = backButton();
    if (!back) return;
    if (state.stack.length) back.show();
    else back.hide();
  }

  function goBack() {
    const previous = state.stack.pop();
    updateBack();
    if (previous) previous();
  }

  function open(renderSub, returnTo) {
    state.stack.push(returnTo);
    updateBack();
    renderSub();
  }

  function selectTab(view) {
    state.seq += 1;
    state.view = view;
    state.stack = [];
    updateBack();
    for (const button of document.querySelectorAll("#tabs button")) {
      if (button.dataset.view === view) button.setAttribute("aria-current", "page");
      else button.removeAttribute("aria-current");
    }
    say("");
    VIEWS[view]().catch(failed);
  }

  function failed(error) {
    if (error && error.stale) return;
    if (error && error.refused) refuse();
    else say(t("room.ui.failed"), true);
  }

  function heading(text) {
    const node = el("h2", { text, tabindex: "-1" });
    return node;
  }

  function show(...nodes) {
    main.replaceChildren(...nodes.flat());
    const first = main.querySelector("h2");
    if (first) first.focus({ preventScroll: true });
  }

  // ---- overview ----
  function position(value, start, end) {
    const span = Date.parse(end) - Date.parse(start);
    const at = (Date.parse(value) - Date.parse(start)) / (span || 1);
    return Math.max(0, Math.min(100, at * 100)).toFixed(1) + "%";
  }

  function timeline(data) {
    const start = data.workshops.length ? data.workshops[0].at : data.start;
    const first = new Date(Date.parse(start) - 14 * 86400000).toISOString().slice(0, 16);
    const marks = data.workshops.map((w) =>
      el("div", { class: "mark" + (w.past ? " past" : ""), style: "left:" + position(w.at, first, data.end), title: w.label },
        el("span", { class: "dot", "aria-hidden": "true", text: w.number }))
    );
    marks.push(el("div", { class: "mark today", style: "left:" + position(data.today, first, data.end), "aria-hidden": "true", text: t("room.ui.today") }));
    const list = el("ol", { class: "workshops" },
      data.workshops.map((w) => el("li", {}, t("room.ui.workshop", { number: w.number }) + ": " + w.label + (w.place ? " · " + w.place : ""))),
    );
    return [
      el("div", { class: "timeline", role: "img", "aria-label": t("room.ui.timeline") }, el("div", { class: "line" }), marks),
      list,
      el("p", { class: "hint" }, t("room.ui.today") + ": " + data.today_label + " · " + t("room.ui.end") + ": " + data.end_label),
    ];
  }

  function groupBars(groups) {
    const most = Math.max(1, ...groups.map((g) => g.contributions));
    return el("ul", { class: "bars" }, groups.map((g) =>
      el("li", { class: g.quiet ? "quiet" : "" },
        el("div", {}, el("strong", { text: g.label }), " ",
          g.quiet ? el("span", { class: "badge quiet", text: "⚠ " + t("room.ui.quiet") }) : null),
        el("div", { class: "meta" },
          el("span", { text: tn("room.ui.people", g.people) }),
          el("span", { text: tn("room.ui.active", g.active) }),
          el("span", { text: tn("room.ui.contributions", g.contributions) })),
        el("div", { class: "bar", "aria-hidden": "true" }, el("span", { style: "width:" + (100 * g.contributions / most).toFixed(1) + "%" })))
    ));
  }

  function rates(data) {
    if (!data.rates.length) return el("p", { class: "hint", text: t("room.ui.no_rates") });
    return el("ul", { class: "bars" }, data.rates.map((r) =>
      el("li", {}, el("div", { text: r.text }),
        el("div", { class: "meta" }, el("span", { text: r.percent + " %" }), el("span", { text: t("room.ui.answered", { answered: r.answered, sent: r.sent }) })),
        el("div", { class: "bar", "aria-hidden": "true" }, el("span", { style: "width:" + r.percent + "%" })))
    ));
  }

  function unreachable(data) {
    if (!data.unreachable.length) return el("p", { class: "hint", text: t("room.ui.unreachable_none") });
    return el("ul", {}, data.unreachable.map((u) =>
      el("li", { text: [u.name || t("room.ui.unnamed"), u.organisation, u.role].filter(Boolean).join(" · ") })));
  }

  async function overview() {
    const { body } = await json(base() + "overview");
    state.groups = body.groups.map((g) => g.label);
    show(
      heading(body.process.name),
      el("section", { "aria-label": t("room.ui.timeline") }, el("h3", { text: t("room.ui.timeline") }), timeline(body)),
      el("div", { class: "columns" },
        el("section", {}, el("h2", { text: t("room.ui.participation") }), groupBars(body.groups),
          el("p", { class: "hint", text: t("room.ui.privacy_note", { min_group: body.min_group }) })),
        el("section", {}, el("h2", { text: t("room.ui.rates") }), rates(body),
          el("h2", { text: t("room.ui.unreachable") }), unreachable(body))),
    );
  }

  // ---- observations and ideas ----
  const filters = { kind: "", theme: "", phase: "", group: "", q: "", hidden: false };

  function options(values, selected) {
    return values.map(([value, label]) => el("option", { value, selected: String(value) === String(selected) }, label));
  }

  function filterForm(groups) {
    const kinds = [["", t("room.ui.filter.all")], ...["observation", "idea", "answer", "experiment"].map((k) => [k, t("room.ui.kind." + k)])];
    const themes = [["", t("room.ui.filter.all")], ...["pain", "bright", "question", "other"].map((k) => [k, t("theme." + k)])];
    const phases = [["", t("room.ui.filter.all")], ["0", t("room.ui.phase0")], ...[1, 2, 3, 4, 5].map((n) => [String(n), t("room.ui.phase", { number: n })])];
    const groupOptions = [["", t("room.ui.filter.all")], ...groups.map((label, index) => [String(index), label])];
    const form = el("form", { class: "filters", role: "search", onsubmit: (event) => { event.preventDefault(); read(); } },
      el("label", {}, t("room.ui.filter.kind"), el("select", { name: "kind" }, options(kinds, filters.kind))),
      el("label", {}, t("room.ui.filter.theme"), el("select", { name: "theme" }, options(themes, filters.theme))),
      el("label", {}, t("room.ui.filter.phase"), el("select", { name: "phase" }, options(phases, filters.phase))),
      el("label", {}, t("room.ui.filter.group"), el("select", { name: "group" }, options(groupOptions, filters.group))),
      el("label", {}, t("room.ui.filter.search"), el("input", { name: "q", type: "search", value: filters.q })),
      el("label", { class: "check" }, el("input", { name: "hidden", type: "checkbox", checked: filters.hidden }), t("room.ui.filter.hidden")),
      el("button", { type: "submit", class: "primary", text: t("room.ui.show") }));
    function read() {
      const data = new FormData(form);
      for (const key of ["kind", "theme", "phase", "group", "q"]) filters[key] = String(data.get(key) || "");
      filters.hidden = data.get("hidden") === "on";
      items().catch(failed);
    }
    form.addEventListener("change", read);
    return form;
  }

  function itemCard(item) {
    const meta = el("div", { class: "meta" },
      el("span", { text: t("room.ui.kind." + item.kind) + " #" + item.id }),
      el("span", { text: item.when }),
      el("span", { text: item.phase ? t("room.ui.phase", { number: item.phase }) : t("room.ui.phase0") }),
      el("span", { text: item.by }),
      item.theme ? el("span", { class: "badge", text: t("theme." + item.theme) }) : null,
      item.media ? el("span", { class: "badge", text: item.media }) : null,
      item.anonymous ? el("span", { class: "badge", text: t("room.ui.anonymous") }) : null,
      item.hidden ? el("span", { class: "badge", text: t("room.ui.hidden_badge") }) : null);
    const card = el("article", { class: "card item", "data-id": item.id },
      item.title ? el("h3", { text: item.title }) : null,
      item.prompt ? el("p", { class: "hint", text: item.prompt }) : null,
      item.text && item.text !== item.title ? el("p", { class: "text", text: item.text }) : null,
      meta,
      item.supports !== null ? el("p", { class: "supports", text: t("room.ui.supports", { count: item.supports }) }) : null);
    const actions = el("div", { class: "actions" },
      el("button", { type: "button", class: item.hidden ? "" : "danger", text: item.hidden ? t("room.ui.unhide") : t("room.ui.hide"),
        onclick: () => setHidden(item, !item.hidden) }));
    if (item.kind === "idea" && !item.hidden) {
      actions.append(el("button", { type: "button", text: t("room.ui.merge"), onclick: () => mergeForm(card, item).catch(failed) }));
    }
    card.append(actions);
    return card;
  }

  async function setHidden(item, hidden) {
    const { ok } = await json(base() + "items/" + item.id + "/hidden", { json: { hidden } });
    if (!ok) return say(t("room.ui.failed"), true);
    await items();
    say(hidden ? t("room.ui.hidden_badge") + ": #" + item.id : t("room.ui.unhide") + ": #" + item.id);
  }

  async function mergeForm(card, item) {
    if (card.querySelector(".merge-form")) return;
    const { body } = await json(base() + "ideas");
    const targets = body.ideas.filter((idea) => idea.id !== item.id);
    const select = el("select", { name: "kept", id: "merge-kept-" + item.id },
      targets.map((idea) => el("option", { value: idea.id }, "#" + idea.id + " " + idea.title)));
    const form = el("form", { class: "form merge-form", onsubmit: async (event) => {
      event.preventDefault();
      const result = await json(base() + "merge", { json: { merged: item.id, kept: Number(select.value) } });
      if (!result.ok) return say(result.body.message || t("room.ui.failed"), true);
      await items();
      say(result.body.message);
    } },
      el("label", { for: "merge-kept-" + item.id }, t("room.ui.merge_into")), select,
      el("div", { class: "actions" },
        el("button", { type: "submit", class: "primary", text: t("room.ui.merge_confirm") }),
        el("button", { type: "button", text: t("room.ui.cancel"), onclick: () => form.remove() })));
    card.append(form);
    select.focus();
  }

  async function items(more) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) if (value && key !== "hidden") params.set(key, value);
    if (filters.hidden) params.set("hidden", "1");
    if (more) params.set("offset", String(more));
    const { body } = await json(base() + "items?" + params.toString());
    const list = el("div", { id: "items", "aria-live": "polite" }, body.items.map((item) => itemCard(item)));
    if (more) {
      document.getElementById("more")?.remove();
      document.getElementById("items").append(...list.childNodes);
    } else {
      show(heading(t("room.ui.nav.items")), filterForm(body.groups),
        el("p", { class: "hint", id: "count", text: body.total ? tn("room.ui.count", body.total) : t("room.ui.none") }), list);
    }
    if (body.offset + body.items.length < body.total) {
      main.append(el("button", { type: "button", id: "more", text: t("room.ui.more"),
        onclick: () => items(body.offset + body.items.length).catch(failed) }));
    }
  }

  // ---- programme ----
  async function programme() {
    const { ok, body } = await json(base() + "programme");
    if (!ok) return say(t("room.ui.failed"), true);
    const byPhase = new Map();
    for (const prompt of body.prompts) {
      if (!byPhase.has(prompt.phase)) byPhase.set(prompt.phase, []);
      byPhase.get(prompt.phase).push(prompt);
    }
    const sections = [...byPhase.entries()].map(([phase, prompts]) =>
      el("section", {}, el("h3", { text: t("room.ui.phase", { number: phase }) }),
        el("ol", { class: "bars" }, prompts.map((prompt) =>
          el("li", { class: "card prompt", "data-id": prompt.id },
            el("div", { class: "meta" }, el("span", { class: "prompt-at", text: prompt.at_label }), el("span", { text: prompt.id }),
              el("span", { text: prompt.remind_after || t("room.ui.reminder_none") }),
              prompt.planned_label ? el("span", { class: "planned", text: t("room.ui.planned", { when: prompt.planned_label }) }) : null),
            el("p", { class: "text", text: (prompt.texts[state.lang] || prompt.texts.fi).split("\n")[0] }),
            el("button", { type: "button", text: t("room.ui.edit"), "aria-label": t("room.ui.edit") + " " + prompt.id,
              onclick: () => open(() => promptForm(prompt, body), () => programme().catch(failed)) }))))));
    show(heading(t("room.ui.nav.programme")), el("p", { class: "hint", text: t("room.ui.programme_intro", { timezone: body.timezone }) }), sections);
  }

  function field(name, label, control, hint) {
    const id = "field-" + name.replace(".", "-");
    control.id = id;
    control.name = name;
    const problems = el("div", { id: id + "-problems" });
    control.setAttribute("aria-describedby", id + "-problems");
    return el("div", { class: "field", "data-field": name }, el("label", { for: id }, label), hint ? el("span", { class: "hint", text: hint }) : null, control, problems);
  }

  function promptForm(prompt) {
    const texts = ["fi", "sv", "en"].map((lang) =>
      field("text." + lang, t("room.ui.field.text", { language: lang }), el("textarea", {}, prompt.texts[lang])));
    const form = el("form", { class: "form", id: "prompt-form", novalidate: true },
      texts,
      field("when", t("room.ui.field.when"), el("input", { type: "text", value: prompt.when }), t("room.ui.field.when_hint")),
      field("remind_after", t("room.ui.field.remind_after"), el("input", { type: "text", value: prompt.remind_after })),
      el("div", { id: "form-problems" }),
      el("div", { class: "actions" },
        el("button", { type: "submit", class: "primary", text: t("room.ui.save") }),
        el("button", { type: "button", text: t("room.ui.back"), onclick: goBack })));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const payload = { texts: {}, when: String(data.get("when") || ""), remind_after: String(data.get("remind_after") || "") };
      for (const lang of ["fi", "sv", "en"]) payload.texts[lang] = String(data.get("text." + lang) || "");
      const result = await json(base() + "programme/" + encodeURIComponent(prompt.id), { json: payload });
      for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
      for (const node of form.querySelectorAll("[id$='-problems']")) node.replaceChildren();
      if (result.ok) {
        say(result.body.message);
        state.stack = [];
        updateBack();
        await programme();
        say(result.body.message);
        return;
      }
      if (result.status !== 422) return say(t("room.ui.failed"), true);
      let first = null;
      for (const [name, messages] of Object.entries(result.body.fields || {})) {
        const control = form.querySelector("[name='" + name + "']");
        if (!control) continue;
        control.setAttribute("aria-invalid", "true");
        document.getElementById(control.id + "-problems").replaceChildren(...messages.map((m) => el("p", { class: "problem", text: m })));
        first = first || control;
      }
      document.getElementById("form-problems").replaceChildren(...(result.body.general || []).map((m) => el("p", { class: "problem", text: m })));
      say(t("room.ui.fix_fields"), true);
      if (first) first.focus();
    });
    show(heading(prompt.id + " · " + prompt.at_label), form);
  }

  // ---- digest and export ----
  async function digest(days) {
    const periods = [["7", t("room.ui.period.week")], ["14", t("room.ui.period.fortnight")], ["30", t("room.ui.period.month")], ["all", t("room.ui.period.all")]];
    const chosen = days || "7";
    const select = el("select", { id: "period", name: "days" }, options(periods, chosen));
    const frame = el("iframe", { class: "digest-frame", sandbox: "", title: t("room.ui.nav.digest") });
    show(heading(t("room.ui.nav.digest")),
      el("form", { class: "filters", onsubmit: (event) => { event.preventDefault(); digest(select.value).catch(failed); } },
        el("label", { for: "period" }, t("room.ui.period"), select),
        el("button", { type: "submit", class: "primary", text: t("room.ui.show") }),
        el("button", { type: "button", id: "export", text: t("room.ui.export"), onclick: exportFiles })),
      frame);
    const asked = state.seq;
    const response = await api(base() + "digest?days=" + encodeURIComponent(chosen === "all" ? "" : chosen));
    if (!response.ok) return say(t("room.ui.failed"), true);
    const html = await response.text();
    current(asked);
    frame.srcdoc = html;
  }

  async function exportFiles() {
    const result = await json(base() + "export", { json: {} });
    say(result.ok ? result.body.message : t("room.ui.failed"), !result.ok);
  }

  const VIEWS = { overview, items: () => items(), programme, digest: () => digest() };

  // ---- start ----
  async function start() {
    applyTheme();
    state.initData = readInitData();
    await loadTexts(clientLanguage(state.initData));
    document.getElementById("title").textContent = t("room.ui.title");
    document.title = t("room.ui.title");
    if (!state.initData) return refuse();
    let me;
    try {
      me = await json("api/me");
    } catch (error) {
      return failed(error);
    }
    if (me.body.lang !== state.lang) await loadTexts(me.body.lang);
    document.getElementById("title").textContent = t("room.ui.title");
    state.processes = me.body.processes;
    state.process = me.body.process;
    const picker = document.getElementById("process");
    picker.replaceChildren(...options(state.processes.map((p) => [p.id, p.name]), state.process));
    document.getElementById("process-label").textContent = t("room.ui.process");
    picker.parentElement.hidden = state.processes.length < 2;
    picker.addEventListener("change", () => { state.process = Number(picker.value); selectTab(state.view); });
    const tabs = document.getElementById("tabs");
    tabs.hidden = false;
    for (const button of tabs.querySelectorAll("button")) {
      button.textContent = t("room.ui.nav." + button.dataset.view);
      button.addEventListener("click", () => selectTab(button.dataset.view));
    }
    selectTab("overview");
  }

  function whenTelegramReady() {
    const app = webApp();
    if (!app) return;
    app.ready();
    app.expand();
    applyTheme();
    app.onEvent("themeChanged", applyTheme);
    if (app.BackButton) app.BackButton.onClick(goBack);
    updateBack();
  }

  window.addEventListener("load", whenTelegramReady);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.stack.length) goBack();
  });
  start().catch(failed);
})();
