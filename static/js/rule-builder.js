/* The segment rule builder: renders the rule JSON of the form's textarea as nested groups and
   conditions, and writes the JSON back (and fires "rule-changed") on every change.
   Without JavaScript the textarea stays visible and the same form saves any rule as JSON. */
(function () {
  "use strict";

  var textarea = document.getElementById("id_rule");
  var root = document.getElementById("rule-builder");
  var choicesNode = document.getElementById("rule-builder-choices");
  if (!textarea || !root || !choicesNode) return;

  var C = JSON.parse(choicesNode.textContent);
  var L = C.labels;
  var GROUPS = ["all", "any"];
  var KINDS = ["attr", "tag", "event_count", "event_sum", "segment", "consent"];
  // Kinds other apps register, with what the builder offers for them (C.kinds): "message",
  // "stage".
  var MESSAGE = (C.kinds || {}).message;
  if (MESSAGE) KINDS.push("message");
  var STAGE = (C.kinds || {}).stage;
  if (STAGE && STAGE.stages.length) KINDS.push("stage");
  var CONSENT = C.consent || { channels: [["email", "email"], ["sms", "sms"]], ops: [["granted", "granted"]] };
  var OP_LABELS = C.op_labels || {};
  var AGGREGATE_LABELS = C.aggregate_labels || {};
  var EVENT_LABELS = C.event_labels || {};
  var SUGGESTIONS = C.suggestions || {};
  var TRAIT = "__trait__";
  var ATTRS = {};
  C.attributes.forEach(function (a) { ATTRS[a.name] = a; });

  var state;
  var text = textarea.value.trim();
  try {
    state = text ? JSON.parse(text) : { all: [defaultCondition("attr")] };
  } catch (e) {
    return; // not JSON: leave the plain textarea to the user
  }
  if (!state || typeof state !== "object" || Array.isArray(state) ||
      Object.keys(state).length === 0) {
    state = { all: [defaultCondition("attr")] };
  }

  var jsonView = document.getElementById("rule-json");
  var fallback = textarea.closest(".rule-json-field");
  if (fallback) fallback.hidden = true;
  root.hidden = false;
  if (jsonView) jsonView.parentNode.hidden = false;

  // Helpers -------------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] === null || attrs[k] === undefined) return;
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function select(options, value, role, onChange) {
    var s = el("select", { "data-role": role, "aria-label": role });
    var found = false;
    options.forEach(function (o) {
      var v = Array.isArray(o) ? o[0] : o;
      var label = Array.isArray(o) ? o[1] : o;
      // the label people read; the raw name (as in the JSON) on hover
      var opt = el("option", { value: v, text: label, title: String(label) !== String(v) ? v : null });
      if (String(v) === String(value)) { opt.selected = true; found = true; }
      s.appendChild(opt);
    });
    if (!found && value !== undefined && value !== null && value !== "") {
      var extra = el("option", { value: value, text: value });
      extra.selected = true;
      s.insertBefore(extra, s.firstChild);
    }
    function hover() { if (s.value) s.title = s.value; else s.removeAttribute("title"); }
    hover();
    s.addEventListener("change", function () { hover(); onChange(s.value); });
    return s;
  }

  function input(type, value, role, onInput, attrs) {
    var i = el("input", Object.assign({ type: type, "data-role": role, "aria-label": role }, attrs || {}));
    i.value = value === undefined || value === null ? "" : String(value);
    i.addEventListener("input", function () { onInput(i.value); });
    return i;
  }

  // values: raw values, or [value, label] pairs (the label shown beside the value)
  function datalist(id, values) {
    if (document.getElementById(id)) return;
    var d = el("datalist", { id: id });
    values.forEach(function (v) {
      var pair = Array.isArray(v) ? v : [v, v];
      d.appendChild(el("option", { value: pair[0], label: pair[1] !== pair[0] ? pair[1] : null }));
    });
    document.body.appendChild(d);
  }
  datalist("rb-events", C.events.map(function (e) { return [e, eventLabel(e)]; }));
  datalist("rb-cities", C.cities);
  Object.keys(SUGGESTIONS).forEach(function (name) { datalist("rb-values-" + name, SUGGESTIONS[name]); });

  function eventLabel(name) { return EVENT_LABELS[name] || name; }
  function opOptions(ops, labels) {
    return ops.map(function (o) { return [o, labels[o] || o]; });
  }

  function number(raw) {
    var t = String(raw).trim();
    if (t === "") return t;
    var n = Number(t);
    return isNaN(n) ? t : n;
  }

  function traitValue(raw) {
    var t = String(raw).trim();
    if (t === "true") return true;
    if (t === "false") return false;
    if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
    return raw;
  }

  function typeOf(attr) {
    if (typeof attr === "string" && attr.indexOf("traits.") === 0) return C.trait;
    return ATTRS[attr] || C.trait;
  }

  function convert(vtype, raw) {
    if (vtype.type === "whole" || vtype.type === "decimal") return number(raw);
    if (vtype.type === "trait") return traitValue(raw);
    return raw;
  }

  function kindOf(node) {
    if (!node || typeof node !== "object" || Array.isArray(node)) return "other";
    if ("all" in node) return "all";
    if ("any" in node) return "any";
    if ("not" in node) return "not";
    if ("attr" in node) return "attr";
    if ("tag" in node) return "tag";
    if ("event" in node) return "sum" in node ? "event_sum" : "event_count";
    if ("segment" in node) return "segment";
    if ("consent" in node) return "consent";
    if ("stage" in node) return "stage";
    if ("message" in node) return "message";
    return "other";
  }

  function kindLabel(kind) {
    if (L[kind]) return L[kind];
    var offered = (C.kinds || {})[kind];
    return offered && offered.label ? offered.label : kind;
  }

  function defaultCondition(kind) {
    switch (kind) {
      case "tag": return { tag: C.tags.length ? C.tags[0].slug : "", op: "has" };
      case "event_count": return { event: C.events.indexOf("purchase") >= 0 ? "purchase" : (C.events[0] || ""), within_days: 30, count: { gte: 1 } };
      case "event_sum": return { event: "purchase", within_days: 365, sum: "amount", value: { gt: 0 } };
      case "segment": return { segment: C.segments[0] || "" };
      case "message": return { message: MESSAGE.messages[0][0], within_days: 30 };
      case "consent": return { consent: CONSENT.channels[0][0], op: CONSENT.ops[0][0] };
      case "stage": return { stage: STAGE.stages[0][0], op: "reached" };
      default: return { attr: "city", op: "eq", value: "" };
    }
  }

  function defaultValue(vtype, op) {
    var shape = C.shapes[op];
    if (shape === "none") return undefined;
    if (shape === "days") return 30;
    if (shape === "pair") return ["", ""];
    if (shape === "list") return [];
    if (vtype.choices && vtype.choices.length) return vtype.choices[0][0];
    return "";
  }

  // Changes -------------------------------------------------------------------------------------

  function changed(rerender) {
    textarea.value = JSON.stringify(state);
    if (jsonView) jsonView.textContent = JSON.stringify(state, null, 2);
    if (rerender) render();
    textarea.dispatchEvent(new CustomEvent("rule-changed", { bubbles: true }));
  }

  // Each rendered node gets get()/set() on its slot in the state tree.
  function slot(parent, key) {
    return {
      get: function () { return parent[key]; },
      set: function (v) { parent[key] = v; },
    };
  }

  // Rendering -----------------------------------------------------------------------------------

  function render() {
    root.textContent = "";
    var holder = { rule: state };
    root.appendChild(renderNode({
      get: function () { return holder.rule; },
      set: function (v) { holder.rule = v; state = v; },
    }, "", null));
  }

  function renderNode(ref, path, remove) {
    var node = ref.get();
    var kind = kindOf(node);
    if (kind === "all" || kind === "any") return renderGroup(ref, path, kind, remove);
    if (kind === "not") return renderNot(ref, path, remove);
    return renderCondition(ref, path, kind, remove);
  }

  function tools(ref, remove) {
    var box = el("span", { className: "rb-tools" });
    var negate = el("button", { type: "button", className: "rb-negate", "data-role": "negate", text: L.negate });
    negate.addEventListener("click", function () { ref.set({ not: ref.get() }); changed(true); });
    box.appendChild(negate);
    if (remove) {
      var r = el("button", { type: "button", className: "rb-remove", "data-role": "remove", text: L.remove });
      r.addEventListener("click", function () { remove(); changed(true); });
      box.appendChild(r);
    }
    return box;
  }

  function renderGroup(ref, path, kind, remove) {
    var node = ref.get();
    var items = node[kind];
    if (!Array.isArray(items)) return renderCondition(ref, path, "other", remove);
    var box = el("div", { className: "rb-group", "data-path": path || "rule", "data-kind": kind });
    var head = el("div", { className: "rb-head" });
    head.appendChild(select(GROUPS.map(function (g) { return [g, L[g]]; }), kind, "group", function (v) {
      var next = {};
      next[v] = items;
      ref.set(next);
      changed(true);
    }));
    head.appendChild(tools(ref, remove));
    box.appendChild(head);
    var list = el("div", { className: "rb-children" });
    var itemsPath = path ? path + "." + kind : kind;
    items.forEach(function (child, i) {
      list.appendChild(renderNode(slot(items, i), itemsPath + "[" + i + "]", function () {
        items.splice(i, 1);
      }));
    });
    box.appendChild(list);
    var foot = el("div", { className: "rb-foot" });
    var addCond = el("button", { type: "button", "data-role": "add-condition", text: L.add_condition });
    addCond.addEventListener("click", function () { items.push(defaultCondition("attr")); changed(true); });
    var addGroup = el("button", { type: "button", "data-role": "add-group", text: L.add_group });
    addGroup.addEventListener("click", function () {
      items.push({ any: [defaultCondition("attr")] });
      changed(true);
    });
    foot.appendChild(addCond);
    foot.appendChild(addGroup);
    box.appendChild(foot);
    return box;
  }

  function renderNot(ref, path, remove) {
    var node = ref.get();
    var box = el("div", { className: "rb-not", "data-path": path || "rule", "data-kind": "not" });
    var head = el("div", { className: "rb-head" }, [el("strong", { text: L.not })]);
    var unwrap = el("button", { type: "button", "data-role": "unnegate", text: L.unnegate });
    unwrap.addEventListener("click", function () { ref.set(ref.get().not); changed(true); });
    head.appendChild(unwrap);
    if (remove) {
      var r = el("button", { type: "button", className: "rb-remove", "data-role": "remove", text: L.remove });
      r.addEventListener("click", function () { remove(); changed(true); });
      head.appendChild(r);
    }
    box.appendChild(head);
    box.appendChild(renderNode(slot(node, "not"), (path ? path + "." : "") + "not", null));
    return box;
  }

  function renderCondition(ref, path, kind, remove) {
    var node = ref.get();
    var row = el("div", { className: "rb-condition", "data-path": path || "rule", "data-kind": kind });
    if (KINDS.indexOf(kind) >= 0) {
      row.appendChild(select(KINDS.map(function (k) { return [k, kindLabel(k)]; }), kind, "kind", function (v) {
        ref.set(defaultCondition(v));
        changed(true);
      }));
    }
    var fields = el("span", { className: "rb-fields" });
    if (kind === "attr") attrFields(node, fields);
    else if (kind === "tag") tagFields(node, fields);
    else if (kind === "event_count" || kind === "event_sum") eventFields(node, fields, kind);
    else if (kind === "message" && MESSAGE) messageFields(node, fields);
    else if (kind === "consent") consentFields(node, fields);
    else if (kind === "stage" && STAGE) stageFields(node, fields);
    else if (kind === "segment") {
      fields.appendChild(select(C.segments, node.segment, "segment", function (v) {
        node.segment = v; changed(false);
      }));
    } else {
      // anything else: shown read-only, kept as is
      fields.appendChild(el("span", { className: "rb-label", text: kind === "other" ? L.other : kindLabel(kind) }));
      fields.appendChild(el("code", { "data-role": "read-only", text: JSON.stringify(node) }));
      fields.appendChild(el("span", { className: "muted", text: L.read_only }));
    }
    row.appendChild(fields);
    row.appendChild(tools(ref, remove));
    return row;
  }

  function attrFields(node, fields) {
    var isTrait = typeof node.attr === "string" && node.attr.indexOf("traits.") === 0;
    var options = C.attributes.map(function (a) {
      return [a.name, a.label || a.name];
    }).concat([[TRAIT, L.trait]]);
    fields.appendChild(select(options, isTrait ? TRAIT : node.attr, "attr", function (v) {
      node.attr = v === TRAIT ? "traits." : v;
      var vtype = typeOf(node.attr);
      if (vtype.ops.indexOf(node.op) < 0) node.op = vtype.ops[0];
      setValue(node, defaultValue(vtype, node.op));
      changed(true);
    }));
    if (isTrait) {
      fields.appendChild(input("text", node.attr.slice("traits.".length), "trait-key", function (v) {
        node.attr = "traits." + v; changed(false);
      }, { placeholder: L.trait_key, size: 12 }));
    }
    var vtype = typeOf(node.attr);
    fields.appendChild(select(opOptions(vtype.ops, OP_LABELS), node.op, "op", function (v) {
      var before = C.shapes[node.op];
      node.op = v;
      if (C.shapes[v] !== before) setValue(node, defaultValue(vtype, v));
      changed(true);
    }));
    valueFields(node, vtype, fields);
  }

  function setValue(node, value) {
    if (value === undefined) delete node.value;
    else node.value = value;
  }

  function oneInput(vtype, attr, value, role, onValue) {
    if (vtype.choices && vtype.choices.length) {
      return select(vtype.choices, value, role, onValue);
    }
    var t = vtype.type;
    if (t === "whole" || t === "decimal") {
      return input("number", value, role, function (v) { onValue(number(v)); },
                   { step: t === "whole" ? "1" : "any" });
    }
    if (t === "date") return input("date", value, role, onValue);
    if (t === "datetime") {
      var local = value === "" || value === undefined ||
        /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(String(value));
      return input(local ? "datetime-local" : "text", value, role, onValue,
                   local ? {} : { placeholder: "2024-01-31T09:30:00+08:00" });
    }
    var attrs = SUGGESTIONS[attr] ? { list: "rb-values-" + attr } : {};
    return input("text", value, role, function (v) { onValue(convert(vtype, v)); }, attrs);
  }

  function valueFields(node, vtype, fields) {
    var shape = C.shapes[node.op];
    if (shape === "none") return;
    if (shape === "days") {
      fields.appendChild(input("number", node.value, "value", function (v) {
        node.value = number(v); changed(false);
      }, { min: "1", step: "1" }));
      fields.appendChild(el("span", { text: L.days }));
    } else if (shape === "pair") {
      var pair = Array.isArray(node.value) ? node.value : ["", ""];
      node.value = pair;
      fields.appendChild(oneInput(vtype, node.attr, pair[0], "low", function (v) { pair[0] = v; changed(false); }));
      fields.appendChild(el("span", { text: "–" }));
      fields.appendChild(oneInput(vtype, node.attr, pair[1], "high", function (v) { pair[1] = v; changed(false); }));
    } else if (shape === "list") {
      var items = Array.isArray(node.value) ? node.value : [];
      fields.appendChild(input("text", items.join(", "), "value", function (v) {
        node.value = v.split(",").map(function (s) { return s.trim(); })
          .filter(function (s) { return s !== ""; })
          .map(function (s) { return convert(vtype, s); });
        changed(false);
      }, { placeholder: L.list_hint, list: SUGGESTIONS[node.attr] ? "rb-values-" + node.attr : null, size: 30 }));
    } else {
      fields.appendChild(oneInput(vtype, node.attr, node.value, "value", function (v) {
        node.value = v; changed(false);
      }));
    }
  }

  function tagFields(node, fields) {
    fields.appendChild(select(C.tag_ops.map(function (o) { return [o, L[o] || o]; }), node.op, "op", function (v) {
      node.op = v; changed(false);
    }));
    var options = C.tags.map(function (t) { return [t.slug, t.label === t.slug ? t.slug : t.label + " (" + t.slug + ")"]; });
    fields.appendChild(select(options, node.tag, "tag", function (v) { node.tag = v; changed(false); }));
  }

  function eventFields(node, fields, kind) {
    var shown = el("span", { className: "rb-event-label", "data-role": "event-label" });
    function showLabel() {
      var label = eventLabel(node.event || "");
      shown.textContent = label !== node.event ? label : "";
      shown.title = node.event || "";
    }
    var name = input("text", node.event, "event", function (v) {
      node.event = v; showLabel(); changed(false);
    }, { list: "rb-events", placeholder: L.event_name, size: 14, title: node.event || null });
    fields.appendChild(name);
    fields.appendChild(shown);
    showLabel();
    var key = kind === "event_count" ? "count" : "value";
    var comparison = node[key] && typeof node[key] === "object" ? node[key] : { gte: 1 };
    node[key] = comparison;
    var op = Object.keys(comparison)[0] || "gte";
    fields.appendChild(select(opOptions(C.aggregate_ops, AGGREGATE_LABELS), op, "op", function (v) {
      var value = comparison[op];
      var next = {};
      if (v === "between") next[v] = Array.isArray(value) ? value : [value, value];
      else next[v] = Array.isArray(value) ? value[0] : value;
      node[key] = next;
      changed(true);
    }));
    var step = kind === "event_count" ? "1" : "any";
    var attrs = { step: step, min: kind === "event_count" ? "0" : null };
    if (op === "between") {
      var pair = Array.isArray(comparison[op]) ? comparison[op] : ["", ""];
      comparison[op] = pair;
      fields.appendChild(input("number", pair[0], "low", function (v) { pair[0] = number(v); changed(false); }, attrs));
      fields.appendChild(el("span", { text: "–" }));
      fields.appendChild(input("number", pair[1], "high", function (v) { pair[1] = number(v); changed(false); }, attrs));
    } else {
      fields.appendChild(input("number", comparison[op], "value", function (v) {
        comparison[op] = number(v); changed(false);
      }, attrs));
    }
    fields.appendChild(el("span", { text: L.within_days }));
    fields.appendChild(input("number", node.within_days, "within-days", function (v) {
      node.within_days = number(v); changed(false);
    }, { min: "1", step: "1" }));
    whereFields(node, fields);
  }

  // The event properties an event condition keeps ("where"): name = value pairs, edited in
  // order; a value reads as true, false or a number when it looks like one (as trait values).
  function whereFields(node, fields) {
    var where = node.where && typeof node.where === "object" && !Array.isArray(node.where) ? node.where : {};
    var pairs = Object.keys(where).map(function (k) { return [k, where[k]]; });
    var box = el("span", { className: "rb-where", "data-role": "where" });

    function write(rerender) {
      if (!pairs.length) {
        delete node.where;
      } else {
        var next = {};
        pairs.forEach(function (p) { next[p[0]] = p[1]; });
        // "where" right after "event", as the JSON reads: event, where, within_days, …
        var rest = {};
        Object.keys(node).forEach(function (k) { if (k !== "event") { rest[k] = node[k]; delete node[k]; } });
        node.where = next;
        Object.keys(rest).forEach(function (k) { if (k !== "where") node[k] = rest[k]; });
      }
      changed(rerender);
    }

    if (pairs.length) box.appendChild(el("span", { text: L.where }));
    pairs.forEach(function (pair, i) {
      box.appendChild(input("text", pair[0], "property-name", function (v) {
        pair[0] = v; write(false);
      }, { placeholder: L.property_name, size: 10 }));
      box.appendChild(el("span", { text: "=" }));
      box.appendChild(input("text", pair[1], "property-value", function (v) {
        pair[1] = traitValue(v); write(false);
      }, { placeholder: L.property_value, size: 10 }));
      var drop = el("button", { type: "button", className: "rb-remove", "data-role": "remove-property", text: "×", "aria-label": L.remove });
      drop.addEventListener("click", function () { pairs.splice(i, 1); write(true); });
      box.appendChild(drop);
    });
    var add = el("button", { type: "button", "data-role": "add-property", text: L.add_property });
    add.addEventListener("click", function () { pairs.push(["", ""]); write(true); });
    box.appendChild(add);
    fields.appendChild(box);
  }

  function messageFields(node, fields) {
    fields.appendChild(select(MESSAGE.messages, node.message, "message", function (v) {
      node.message = v; changed(false);
    }));
    var campaigns = [["", MESSAGE.any_campaign]].concat(MESSAGE.campaigns.map(function (c) {
      return [c[0], c[1] && c[1] !== c[0] ? c[1] + " (" + c[0] + ")" : c[0]];
    }));
    fields.appendChild(select(campaigns, node.campaign || "", "campaign", function (v) {
      var days = node.within_days;
      delete node.campaign;
      delete node.within_days;
      if (v) node.campaign = v;
      node.within_days = days; // the JSON reads: message, campaign, within_days
      changed(false);
    }));
    fields.appendChild(el("span", { text: MESSAGE.within_days }));
    fields.appendChild(input("number", node.within_days, "within-days", function (v) {
      node.within_days = number(v); changed(false);
    }, { min: "1", step: "1" }));
  }

  function consentFields(node, fields) {
    fields.appendChild(select(CONSENT.ops, node.op, "op", function (v) {
      node.op = v; changed(false);
    }));
    fields.appendChild(select(CONSENT.channels, node.consent, "consent", function (v) {
      node.consent = v; changed(false);
    }));
  }

  function stageFields(node, fields) {
    fields.appendChild(select(STAGE.ops, node.op, "op", function (v) {
      node.op = v; changed(false);
    }));
    fields.appendChild(select(STAGE.stages, node.stage, "stage", function (v) {
      node.stage = v; changed(false);
    }));
  }

  changed(true);
})();
