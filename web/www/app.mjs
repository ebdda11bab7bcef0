// The page: loads the module of the chosen precision, hands a dropped or
// chosen photo's RGBA pixels to it, shows the top 5. See web/src/lib.rs for
// the module's exports.

const $ = (id) => document.getElementById(id);
const MAX_PIXELS = 4096 * 4096;
let labels = [];
let net = null; // { exports, bytes, precision }

/** Instantiates the module of `precision` (again after a trap). */
async function load(precision) {
  const response = await fetch(`mobilenet-${precision}.wasm`);
  if (!response.ok) throw new Error(`mobilenet-${precision}.wasm: ${response.status}`);
  const bytes = await response.arrayBuffer();
  const { instance } = await WebAssembly.instantiate(bytes, {});
  const e = instance.exports;
  const isa = new TextDecoder().decode(new Uint8Array(e.memory.buffer, e.mn_isa(), e.mn_isa_len()));
  net = { exports: e, bytes: bytes.byteLength, precision };
  $("model").textContent = `${(bytes.byteLength / 1e6).toFixed(1)} MB module (weights included), ${isa} kernels`;
}

function showError(message) {
  $("error").textContent = message;
  $("status").textContent = "";
  $("top5").replaceChildren();
}

/** The RGBA pixels of an image file, or an error message. */
async function pixels(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    throw new Error(`${file.name} is not an image this browser can decode (or it is truncated)`);
  }
  const { width, height } = bitmap;
  if (width * height > MAX_PIXELS) {
    bitmap.close();
    throw new Error(`${file.name} is ${width} x ${height}: at most ${MAX_PIXELS / 1e6} megapixels`);
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { colorSpace: "srgb", willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return { width, height, data: ctx.getImageData(0, 0, width, height).data };
}

async function classify(file) {
  $("error").textContent = "";
  $("status").textContent = `classifying ${file.name}...`;
  $("preview").src = URL.createObjectURL(file);
  let img;
  try {
    img = await pixels(file);
  } catch (err) {
    return showError(err.message);
  }
  const e = net.exports;
  try {
    const ptr = e.mn_pixels(img.data.length);
    if (ptr === 0) return showError(`${file.name} is too large`);
    new Uint8Array(e.memory.buffer, ptr, img.data.length).set(img.data);
    const start = performance.now();
    const code = e.mn_classify(img.width, img.height);
    const ms = performance.now() - start;
    if (code !== 0) {
      const message = new TextDecoder().decode(new Uint8Array(e.memory.buffer, e.mn_error(), e.mn_error_len()));
      return showError(`${file.name}: ${message}`);
    }
    const rows = [];
    for (let i = 0; i < 5; i++) {
      const c = e.mn_top_class(i), p = e.mn_top_prob(i);
      const tr = document.createElement("tr");
      tr.innerHTML = `<td class="p">${p.toFixed(3)}</td><td>${labels[c] ?? c}</td>`;
      rows.push(tr);
    }
    $("top5").replaceChildren(...rows);
    $("status").textContent = `${file.name} (${img.width} x ${img.height}): ${ms.toFixed(1)} ms, ${net.precision}`;
  } catch (err) {
    // A trap is a bug of ours; the module's state is unknown: start it afresh.
    showError(`the classifier failed (${err.message}); it has been restarted`);
    await load(net.precision);
  }
}

$("file").addEventListener("change", (ev) => ev.target.files[0] && classify(ev.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (ev) => {
  ev.preventDefault();
  drop.classList.remove("over");
  if (ev.dataTransfer.files[0]) classify(ev.dataTransfer.files[0]);
});
$("precision").addEventListener("change", async (ev) => {
  $("status").textContent = "loading...";
  await load(ev.target.value);
  $("status").textContent = "";
  const file = $("file").files[0];
  if (file) await classify(file);
});

labels = (await (await fetch("categories.txt")).text()).split("\n");
await load($("precision").value);
document.body.dataset.ready = "yes";
