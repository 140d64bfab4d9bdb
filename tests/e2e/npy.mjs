// Reads the .npy files `glassbox explain` writes (float32 maps, int32 segments, uint8 masks) into {shape, data}.
import { readFileSync } from 'node:fs';

export function readNpy(file) {
  const buf = readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file} is not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const Typed = { '<f4': Float32Array, '<i4': Int32Array, '|u1': Uint8Array }[descr];
  if (!Typed) throw new Error(`${file}: dtype ${descr}, expected <f4, <i4 or |u1`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order is not supported`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = Typed.BYTES_PER_ELEMENT * count;
  const data = new Typed(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + start + bytes));
  return { shape, data: Array.from(data) };
}
