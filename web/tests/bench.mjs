// Ours (the `bench` WebAssembly module: f32, and int8 for v1 and v2)
// against onnxruntime-web (its wasm backend, SIMD, one thread) on the four
// standard Keras networks of ../shared, in one node process: batches of 12
// runs of each engine in turn (the first 2 of a batch dropped), until each
// has RUNS timings; medians and ratios. Then the download sizes.
//
// NODE_PATH=target/node/node_modules node web/tests/bench.mjs MODULE.wasm [RUNS]
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { readNpy } from "./npy.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const shared = join(root, "..", "shared");
const [wasmPath, runsArg] = process.argv.slice(2);
const RUNS = Number(runsArg ?? 50), BATCH = 12, WARM = 2;
const require = createRequire(join(root, "target/node/package.json"));
const ort = require("onnxruntime-web");
ort.env.wasm.numThreads = 1;
ort.env.wasm.simd = true;
ort.env.logLevel = "warning";

const { exports: e } = await WebAssembly.instantiate(readFileSync(wasmPath), {});
const text = (p, l) => new TextDecoder().decode(new Uint8Array(e.memory.buffer, p, l));
const isa = text(e.mn_isa(), e.mn_isa_len());
const ours = new Map();
for (let i = 0; i < e.mn_nets(); i++) ours.set(text(e.mn_net_name(i), e.mn_net_name_len(i)), i);

/** A timer of our network `i` on image `x`: `n` runs, ms each. */
function oursTimer(i, x) {
  const [il, ol] = [e.mn_input_len(i), e.mn_output_len(i)];
  return (n) => {
    const buf = new Float32Array(e.memory.buffer, e.mn_floats(il + ol), il + ol);
    buf.set(x);
    const t = [];
    for (let k = 0; k < n; k++) {
      const s = performance.now();
      e.mn_run(i, false);
      t.push(performance.now() - s);
    }
    return t;
  };
}

const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
const rows = [];
for (const name of ["v1_1.0_224", "v2_1.0_224", "v3large_1.0_224", "v3small_1.0_224"]) {
  const fixture = join(shared, "fixtures", name);
  const input = readNpy(join(fixture, "input.npy"));
  const x = input.data.subarray(0, input.data.length / input.shape[0]);
  const session = await ort.InferenceSession.create(join(shared, "peers", `${name}.onnx`), {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", x, [1, 224, 224, 3]) };
  const engines = [["ours f32", oursTimer(ours.get(name), x)]];
  if (ours.has(`${name} int8`)) engines.push(["ours int8", oursTimer(ours.get(`${name} int8`), x)]);
  const ortRun = async (n) => {
    const t = [];
    for (let k = 0; k < n; k++) {
      const s = performance.now();
      await session.run(feeds);
      t.push(performance.now() - s);
    }
    return t;
  };
  const times = engines.map(() => []);
  const ortTimes = [];
  for (const [, f] of engines) f(BATCH);
  await ortRun(BATCH);
  while (ortTimes.length < RUNS) {
    engines.forEach(([, f], j) => times[j].push(...f(BATCH).slice(WARM)));
    ortTimes.push(...(await ortRun(BATCH)).slice(WARM));
  }
  const o = median(ortTimes);
  const row = { name, ort: o, f32: median(times[0]), int8: engines.length > 1 ? median(times[1]) : null };
  rows.push(row);
  console.error(`${name}: ours f32 ${row.f32.toFixed(2)} ms, int8 ${row.int8?.toFixed(2) ?? "-"} ms, onnxruntime-web ${o.toFixed(2)} ms`);
  await session.release();
}
console.log(`\nnode ${process.version}, our kernels ${isa}, onnxruntime-web ${ort.env.versions?.web ?? "?"} (wasm, SIMD, 1 thread), medians of ${RUNS}\n`);
console.log("| network | ours f32 ms | ours int8 ms | onnxruntime-web ms | f32 / ORT | int8 / ORT |");
console.log("|---|---|---|---|---|---|");
for (const r of rows) {
  const i8 = r.int8 === null ? ["-", "-"] : [r.int8.toFixed(2), (r.int8 / r.ort).toFixed(2)];
  console.log(`| ${r.name} | ${r.f32.toFixed(2)} | ${i8[0]} | ${r.ort.toFixed(2)} | ${(r.f32 / r.ort).toFixed(2)} | ${i8[1]} |`);
}
const size = (p) => statSync(p).size;
const ortWasm = join(root, "target/node/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm");
console.log("\n| download | bytes |\n|---|---|");
for (const f of ["mobilenet-f32.wasm", "mobilenet-int8.wasm"]) {
  try {
    console.log(`| web/www/${f} (torchvision's v2 with its weights) | ${size(join(root, "web/www", f))} |`);
  } catch {}
}
console.log(`| onnxruntime-web ort-wasm-simd-threaded.wasm | ${size(ortWasm)} |`);
console.log(`| + v2_1.0_224.onnx | ${size(join(shared, "peers/v2_1.0_224.onnx"))} |`);
