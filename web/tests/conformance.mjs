// The WebAssembly build on the committed fixtures, in node: every network
// of the `conformance` module, on each image of its fixture, with the
// portable kernels and (in a SIMD128 module) the SIMD128 ones:
//
// * f32 networks give the framework's logits (Keras or torchvision) within
//   1e-4 of the largest logit (of all the fixture's images, as the native
//   tests measure), with the same top-1 class; the trained
//   MobileNetV2 gives torchvision's top-5 on the four photos;
// * int8 networks give the integer reference interpreter's logits bit for
//   bit (`mobilenetc run --quantized`, written by web/test.sh before this
//   runs, into EXPECTED_DIR);
// * the module imports nothing: no allocator, no host function.
//
// node web/tests/conformance.mjs MODULE.wasm EXPECTED_DIR
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { readNpy } from "./npy.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const [wasmPath, expectedDir] = process.argv.slice(2);
const module = await WebAssembly.compile(readFileSync(wasmPath));
const imports = WebAssembly.Module.imports(module);
if (imports.length !== 0) throw new Error(`the module imports ${JSON.stringify(imports)}`);
const { exports: e } = await WebAssembly.instantiate(module, {});
const text = (ptr, len) => new TextDecoder().decode(new Uint8Array(e.memory.buffer, ptr, len));
const isa = text(e.mn_isa(), e.mn_isa_len());

/** Where network `name`'s input and expected output are. */
function fixture(name) {
  const int8 = name.endsWith(" int8");
  const base = name.replace(/ (unfused|every block|int8)$/, "");
  if (base.startsWith("tv_v2_1.0_224 (trained)")) {
    const dir = join(root, "generated-example/models/mobilenet_v2_imagenet/reference");
    return { input: join(dir, "input.npy"), expected: int8 ? join(expectedDir, "tv_v2_int8.npy") : join(dir, "expected_logits.npy"), int8, top5: true };
  }
  const dir = join(root, "tests/data", base);
  return { input: join(dir, "input.npy"), expected: int8 ? join(expectedDir, `${base}_int8.npy`) : join(dir, "expected_logits.npy"), int8, top5: false };
}

const top = (v, k) => Array.from(v.keys()).sort((a, b) => v[b] - v[a] || a - b).slice(0, k);
let failures = 0;
const kernels = isa === "simd128" ? [true, false] : [true];
for (let i = 0; i < e.mn_nets(); i++) {
  const name = text(e.mn_net_name(i), e.mn_net_name_len(i));
  const f = fixture(name);
  const input = readNpy(f.input), expected = readNpy(f.expected);
  const [inLen, outLen] = [e.mn_input_len(i), e.mn_output_len(i)];
  const images = input.data.length / inLen;
  // As the native tests: errors relative to the largest logit of all the fixture's images.
  const scale = expected.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  for (const portable of kernels) {
    const which = portable ? "portable" : isa;
    let worst = 0;
    const problems = [];
    for (let n = 0; n < images; n++) {
      const buf = new Float32Array(e.memory.buffer, e.mn_floats(inLen + outLen), inLen + outLen);
      buf.set(input.data.subarray(n * inLen, (n + 1) * inLen));
      if (!e.mn_run(i, portable)) throw new Error(`${name}: no such network`);
      const got = new Float32Array(e.memory.buffer, buf.byteOffset + 4 * inLen, outLen);
      const want = expected.data.subarray(n * outLen, (n + 1) * outLen);
      if (f.int8) {
        const at = got.findIndex((v, j) => Object.is(v, want[j]) === false);
        if (at >= 0) problems.push(`image ${n}: logit ${at} is ${got[at]}, the reference's ${want[at]}`);
        continue;
      }
      const diff = got.reduce((m, v, j) => Math.max(m, Math.abs(v - want[j])), 0) / scale;
      worst = Math.max(worst, diff);
      if (!(diff <= 1e-4)) problems.push(`image ${n}: ${diff.toExponential(2)} of the largest logit`);
      const k = f.top5 ? 5 : 1;
      if (top(got, k).join() !== top(want, k).join()) problems.push(`image ${n}: top-${k} ${top(got, k)} vs ${top(want, k)}`);
    }
    const what = f.int8 ? "bit for bit" : `worst ${worst.toExponential(2)} of the largest logit`;
    console.log(`${problems.length ? "FAIL" : "ok  "} ${name} [${which}] ${images} images, ${what}`);
    for (const p of problems) console.log(`       ${p}`);
    failures += problems.length ? 1 : 0;
  }
}
console.log(`${isa} module: ${failures} failures`);
process.exit(failures ? 1 : 0);
