// The page in headless Chromium, from a loopback server: for f32 and int8,
// chelsea.png is classified "Egyptian cat" with the expected probability to
// 3 decimals (f32: torchvision's; int8: the integer reference's, from
// EXPECTED_DIR/tv_v2_int8.npy); a file that is not an image gets a message
// and the page classifies the next photo. Saves target/web-page.png.
//
// NODE_PATH=target/node/node_modules node web/tests/page.mjs EXPECTED_DIR
import { createServer } from "node:http";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join, dirname, extname } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { readNpy } from "./npy.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const www = join(root, "web/www");
const require = createRequire(join(root, "target/node/package.json"));
const { chromium } = require("playwright-core");
const expectedDir = process.argv[2];

const types = { ".html": "text/html", ".mjs": "text/javascript", ".wasm": "application/wasm", ".txt": "text/plain" };
const server = createServer((req, res) => {
  const path = join(www, decodeURIComponent(new URL(req.url, "http://x").pathname).replace(/^\/$/, "/index.html"));
  try {
    const body = readFileSync(path);
    res.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const url = `http://127.0.0.1:${server.address().port}/`;

const softmax = (v) => {
  const m = Math.max(...v), ex = v.map((x) => Math.exp(x - m)), s = ex.reduce((a, b) => a + b, 0);
  return ex.map((x) => x / s);
};
const ref = join(root, "generated-example/models/mobilenet_v2_imagenet/reference");
const chelsea = {
  f32: readNpy(join(ref, "expected_probs.npy")).data[285],
  int8: softmax(Array.from(readNpy(join(expectedDir, "tv_v2_int8.npy")).data.subarray(0, 1000)))[285],
};

const profile = mkdtempSync(join(tmpdir(), "chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-quic", "--disable-sync"],
});
let failures = 0;
const check = (ok, what) => { console.log(`${ok ? "ok  " : "FAIL"} ${what}`); failures += ok ? 0 : 1; };
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (err) => check(false, `page error: ${err.message}`));
  await page.goto(url);
  await page.waitForSelector("body[data-ready=yes]", { timeout: 60000 });
  const photo = join(root, "generated-example/images/chelsea.png");
  for (const precision of ["f32", "int8"]) {
    await page.selectOption("#precision", precision);
    await page.waitForFunction((p) => document.querySelector("#model").textContent && !document.querySelector("#status").textContent.startsWith("loading"), precision);
    await page.setInputFiles("#file", photo);
    await page.waitForFunction(() => document.querySelectorAll("#top5 tr").length === 5 && document.querySelector("#status").textContent.includes("ms"), null, { timeout: 60000 });
    const first = await page.locator("#top5 tr").first().innerText();
    const [prob, label] = first.split("\t");
    const want = chelsea[precision].toFixed(3);
    check(label.trim() === "Egyptian cat" && prob.trim() === want, `${precision}: chelsea.png -> "${first.replace("\t", " ")}" (expected ${want} Egyptian cat); ${await page.locator("#status").innerText()}`);
    // A file that is not an image: a message, and the page goes on.
    await page.setInputFiles("#file", { name: "notes.png", mimeType: "image/png", buffer: Buffer.from("this is not a PNG") });
    await page.waitForFunction(() => document.querySelector("#error").textContent.length > 0, null, { timeout: 30000 });
    check(true, `${precision}: a non-image gets "${await page.locator("#error").innerText()}"`);
    await page.setInputFiles("#file", photo);
    await page.waitForFunction(() => document.querySelectorAll("#top5 tr").length === 5, null, { timeout: 60000 });
    const again = await page.locator("#top5 tr").first().innerText();
    check(again === first && (await page.locator("#error").innerText()) === "", `${precision}: after the error, chelsea.png again -> "${again.replace("\t", " ")}"`);
  }
  await page.screenshot({ path: join(root, "target/web-page.png"), fullPage: true });
  console.log("screenshot: target/web-page.png");
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  server.close();
}
process.exit(failures ? 1 : 0);
