// The ALI playground: plain JavaScript over the service's public HTTP API, no dependencies.
// Each panel shows its state in data-state (busy, done, error) and an API error's message as text.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { model: null, upload: null, ends: { a: null, b: null } };

// The API key, when the server asks for one (a 401): kept in this tab's sessionStorage only.
const KEY_ITEM = "ali-api-key";

function withKey(init) {
  const key = sessionStorage.getItem(KEY_ITEM);
  if (!key) return init;
  return { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${key}` } };
}

// fetch() with ?model= and the key; an error answer {"error": {"message"}} becomes a thrown Error.
async function api(path, params = {}, init = {}) {
  const query = new URLSearchParams();
  if (state.model) query.set("model", state.model.name);
  for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) query.set(k, v);
  const r = await fetch(`${path}?${query}`, withKey(init));
  if (r.status === 401) {
    $("key-form").hidden = false;
    throw new Error(
      sessionStorage.getItem(KEY_ITEM)
        ? "the server refused this API key (401): enter another one above"
        : "this server needs an API key (401): enter it above",
    );
  }
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try {
      message = (await r.json()).error.message || message;
    } catch (_) {
      // not the service's JSON error: keep the status line
    }
    throw new Error(message);
  }
  return r;
}

// Runs one panel's action: its error element shows what went wrong, or nothing.
async function run(panelId, action) {
  const panel = $(panelId);
  const error = panel.querySelector(".error");
  error.hidden = true;
  error.textContent = "";
  panel.dataset.state = "busy";
  try {
    await action();
    panel.dataset.state = "done";
  } catch (e) {
    error.textContent = e.message || String(e);
    error.hidden = false;
    panel.dataset.state = "error";
  }
}

const postJson = (body) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});
const fmt = (x) => (Number.isInteger(x) ? String(x) : Number(x).toPrecision(3));
const el = (tag, text) => Object.assign(document.createElement(tag), { textContent: text });
// Fills a <dl> with [term, value] rows, one <div> per row.
function fill(dl, rows) {
  dl.replaceChildren(
    ...rows.map(([k, v]) => {
      const row = document.createElement("div");
      row.append(el("dt", k), el("dd", v));
      return row;
    }),
  );
}

async function show(img, blob) {
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(blob);
  await img.decode().catch(() => {}); // an upload the browser can't show is still sent
}

function clear(img) {
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.removeAttribute("src");
}

// ---- model picker -------------------------------------------------------------------------

async function loadModels() {
  const body = await (await api("models")).json();
  const select = $("model");
  state.models = new Map(body.models.map((m) => [m.name, m]));
  for (const m of body.models) {
    const option = new Option(m.ready ? m.name : `${m.name} (failed to load)`, m.name);
    option.disabled = !m.ready;
    select.add(option);
  }
  const ready = body.models.filter((m) => m.ready);
  if (!ready.length) throw new Error("no model is loaded; see GET /models");
  select.value = ready.some((m) => m.name === body.default) ? body.default : ready[0].name;
  selectModel(select.value);
}

function selectModel(name) {
  const m = state.models.get(name);
  state.model = m;
  const { channels, height, width } = m.image;
  const rows = [
    ["version", m.version],
    ["conditional", m.conditional ? `yes (${m.classes.length} classes)` : "no"],
    ["image", `${channels}×${height}×${width}`],
    ["latent size", `${m.latent.dim} (${m.latent.prior.replace("_", " ")} prior)`],
    ["runs on", [...new Set(Object.values(m.providers || {}).flat())].join(", ")],
  ];
  for (const [k, v] of Object.entries(m.metrics || {})) {
    const name = k.replaceAll("_", " ");
    if (typeof v === "number") rows.push([name, fmt(v)]);
    else if (v && typeof v.mean === "number") rows.push([name, `${fmt(v.mean)} ± ${fmt(v.std || 0)}`]);
  }
  fill($("model-info"), rows);
  for (const label of document.querySelectorAll(".cond")) label.hidden = !m.conditional;
  for (const id of ["sample-label", "draw-label", "interp-label"]) {
    const options = m.classes.map((c, i) => new Option(c, i));
    if (id === "sample-label") options.unshift(new Option("random", ""));
    $(id).replaceChildren(...options);
  }
  const pad = $("pad");
  pad.height = Math.round((pad.width * height) / width);
  clearPad();
  $("draw-input-caption").textContent = `model input (${width}×${height})`;
  for (const id of ["recon", "draw-input", "interp-big"]) clear($(id));
  fill($("score"), []);
  $("strip").replaceChildren();
  $("slider").hidden = true;
  return run("sample-panel", sample);
}

// ---- sample -------------------------------------------------------------------------------

// The sampler choices GET /sample offers, read from the OpenAPI schema; null unless it offers
// more than one.
function samplerChoices(spec) {
  const op = spec && spec.paths && spec.paths["/sample"] && spec.paths["/sample"].get;
  const param = ((op && op.parameters) || []).find((p) => p.name === "sampler");
  if (!param) return null;
  const schema = param.schema || {};
  const values = enumOf(schema, spec);
  return values && values.length > 1 ? { values, default: schema.default ?? values[0] } : null;
}

function enumOf(schema, spec) {
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return enumOf((spec.components && spec.components.schemas[name]) || {}, spec);
  }
  if (Array.isArray(schema.enum)) return schema.enum;
  for (const s of schema.anyOf || schema.oneOf || schema.allOf || []) {
    const found = enumOf(s, spec);
    if (found) return found;
  }
  return null;
}

async function setupSampler() {
  const spec = await fetch("openapi.json")
    .then((r) => (r.ok ? r.json() : null))
    .catch(() => null);
  const choices = samplerChoices(spec);
  $("sampler-field").hidden = !choices;
  if (!choices) return;
  $("sample-sampler").replaceChildren(...choices.values.map((v) => new Option(v, v)));
  $("sample-sampler").value = choices.default;
}

async function sample() {
  const params = { n: $("sample-n").value, seed: $("sample-seed").value, format: "png" };
  if (state.model.conditional) params.label = $("sample-label").value;
  if (!$("sampler-field").hidden) params.sampler = $("sample-sampler").value;
  clear($("sample-grid"));
  await show($("sample-grid"), await (await api("sample", params)).blob());
}

// ---- draw or upload -----------------------------------------------------------------------

const pad = $("pad");
const ink = pad.getContext("2d", { willReadFrequently: true });
let last = null; // the pointer's previous point while a stroke is drawn

function clearPad() {
  ink.fillStyle = "#000";
  ink.fillRect(0, 0, pad.width, pad.height);
  state.upload = null;
}

function point(e) {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
}

function stroke(from, to) {
  Object.assign(ink, { strokeStyle: "#fff", lineWidth: pad.width / 12, lineCap: "round", lineJoin: "round" });
  ink.beginPath();
  ink.moveTo(...from);
  ink.lineTo(...to);
  ink.stroke();
}

// The ink's bounding box [x, y, w, h] on the pad, or null when the pad is empty.
function inkBox() {
  const { data, width, height } = ink.getImageData(0, 0, pad.width, pad.height);
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[(y * width + x) * 4] > 16) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}

// The drawing as a PNG at the model's size. "Centre like MNIST": the ink's box scaled into the
// central 20/28 of the frame and centred, as MNIST digits are.
function padImage() {
  const { width: w, height: h } = state.model.image;
  const out = Object.assign(document.createElement("canvas"), { width: w, height: h });
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, w, h);
  ctx.imageSmoothingQuality = "high";
  const box = $("pad-fit").checked ? inkBox() : null;
  if (box) {
    const s = Math.min(((20 / 28) * w) / box[2], ((20 / 28) * h) / box[3]);
    const [dw, dh] = [box[2] * s, box[3] * s];
    ctx.drawImage(pad, ...box, (w - dw) / 2, (h - dh) / 2, dw, dh);
  } else {
    ctx.drawImage(pad, 0, 0, w, h);
  }
  return new Promise((resolve) => out.toBlob(resolve, "image/png"));
}

const inputImage = () => state.upload || padImage();

async function upload() {
  const file = $("upload").files[0];
  if (!file) return;
  clearPad();
  state.upload = file;
  try {
    const bitmap = await createImageBitmap(file);
    const s = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
    const [w, h] = [bitmap.width * s, bitmap.height * s];
    ink.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
  } catch (_) {
    // not an image this browser decodes: the service says what is wrong with it
  }
  await reconstruct();
}

async function reconstruct() {
  const m = state.model;
  const image = await inputImage();
  const label = $("draw-label").value;
  const form = () => {
    const f = new FormData();
    f.append("images", image, image.name || "drawing.png");
    if (m.conditional) f.append("labels", label);
    return f;
  };
  for (const id of ["recon", "draw-input"]) clear($(id));
  fill($("score"), []);
  const [rec, score] = await Promise.all([
    api("reconstruct", {}, { method: "POST", body: form() }),
    api("score", {}, { method: "POST", body: form() }),
  ]);
  await show($("draw-input"), image);
  await show($("recon"), await rec.blob());
  const s = await score.json();
  const rows = [
    ["discriminator logit (high: like the data)", fmt(s.discriminator_logit[0])],
    ["reconstruction error (MSE)", fmt(s.reconstruction_error[0])],
  ];
  if (m.conditional) rows.push(["class used", m.classes[Number(label)]]);
  fill($("score"), rows);
}

async function useAs(end) {
  const image = await inputImage();
  state.ends[end] = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(image);
  });
  $(`end-${end}`).src = state.ends[end];
  document.querySelector('input[name="ends"][value="images"]').checked = true;
}

// ---- interpolate --------------------------------------------------------------------------

async function seedLatent(seed) {
  const params = { n: 1, seed, format: "json" };
  if (state.model.conditional) params.label = $("interp-label").value;
  return (await (await api("sample", params)).json()).latents[0];
}

async function interpolate() {
  const body = { steps: Number($("steps").value), method: $("method").value };
  if (state.model.conditional) body.label = Number($("interp-label").value);
  if (document.querySelector('input[name="ends"]:checked').value === "images") {
    if (!state.ends.a || !state.ends.b) {
      throw new Error("set both ends first: draw or upload, then press “Use as A” and “Use as B”");
    }
    body.images = [state.ends.a, state.ends.b];
  } else {
    body.latents = await Promise.all([$("seed-a").value, $("seed-b").value].map(seedLatent));
  }
  $("strip").replaceChildren();
  $("slider").hidden = true;
  clear($("interp-big"));
  const out = await (await api("interpolate", { format: "json" }, postJson(body))).json();
  const images = out.images.map((b64, i) => {
    const img = Object.assign(document.createElement("img"), { className: "pixels", alt: `step ${i}` });
    img.src = `data:image/png;base64,${b64}`;
    img.addEventListener("click", () => pick(i));
    return img;
  });
  $("strip").replaceChildren(...images);
  await Promise.all(images.map((img) => img.decode()));
  Object.assign($("slider"), { max: images.length - 1, value: 0, hidden: false });
  pick(0);
}

function pick(i) {
  const images = $("strip").children;
  for (const [k, img] of [...images].entries()) img.classList.toggle("picked", k === i);
  $("slider").value = i;
  $("interp-big").src = images[i].src;
}

// ---- wiring -------------------------------------------------------------------------------

$("model").addEventListener("change", (e) => selectModel(e.target.value));
$("sample-form").addEventListener("submit", (e) => {
  e.preventDefault();
  run("sample-panel", sample);
});
$("sample-next").addEventListener("click", () => {
  $("sample-seed").value = Number($("sample-seed").value || 0) + 1;
  run("sample-panel", sample);
});
pad.addEventListener("pointerdown", (e) => {
  pad.setPointerCapture(e.pointerId);
  if (state.upload) clearPad();
  last = point(e);
  stroke(last, last);
});
pad.addEventListener("pointermove", (e) => {
  if (!last) return;
  const p = point(e);
  stroke(last, p);
  last = p;
});
for (const type of ["pointerup", "pointercancel"]) pad.addEventListener(type, () => (last = null));
$("pad-clear").addEventListener("click", () => {
  clearPad();
  $("upload").value = "";
});
$("upload").addEventListener("change", () => run("draw-panel", upload));
$("reconstruct").addEventListener("click", () => run("draw-panel", reconstruct));
$("use-a").addEventListener("click", () => run("draw-panel", () => useAs("a")));
$("use-b").addEventListener("click", () => run("draw-panel", () => useAs("b")));
$("interp-form").addEventListener("submit", (e) => {
  e.preventDefault();
  run("interp-panel", interpolate);
});
$("slider").addEventListener("input", (e) => pick(Number(e.target.value)));
$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY_ITEM, $("api-key").value.trim());
  window.location.reload();
});

window.playground = { samplerChoices }; // for the browser tests
clearPad();
run("model-panel", async () => {
  await setupSampler();
  await loadModels();
});
