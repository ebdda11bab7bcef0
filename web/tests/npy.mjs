// Reading little-endian float32 `.npy` files (C order), for the node tests.
import { readFileSync } from "node:fs";

/** `{ shape, data }` of a float32 `.npy` file. */
export function readNpy(path) {
  const buf = readFileSync(path);
  if (buf.toString("latin1", 1, 6) !== "NUMPY") throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const hlen = major >= 2 ? buf.readUInt32LE(8) : buf.readUInt16LE(8);
  const start = major >= 2 ? 12 : 10;
  const header = buf.toString("latin1", start, start + hlen);
  if (!/'descr': '<f4'/.test(header) || /'fortran_order': True/.test(header)) {
    throw new Error(`${path}: not a C-order float32 array: ${header}`);
  }
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(",").filter((s) => s.trim()).map(Number);
  const off = start + hlen;
  const bytes = buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + buf.length);
  return { shape, data: new Float32Array(bytes) };
}
