/**
 * The ONNX protobuf messages (onnx-proto: protobufjs code generated from onnx.proto) and the
 * small readers both directions share: integers that may arrive as Long, tensor payloads.
 */
import onnxProto from 'onnx-proto';
import { VggcError, error } from '../../dsl/diagnostics.js';

export const onnx = onnxProto.onnx;
export type ModelProto = InstanceType<typeof onnx.ModelProto>;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;

/** The opsets of the default domain that import reads and export writes. */
export const MIN_OPSET = 7;
export const MAX_OPSET = 18;

export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const DOUBLE = onnx.TensorProto.DataType.DOUBLE;
export const INT64 = onnx.TensorProto.DataType.INT64;
export const INT32 = onnx.TensorProto.DataType.INT32;

/** An int64 field as a number (protobufjs gives a Long when the `long` package is present). */
export function int(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

const fail = (message: string): never => {
  throw new VggcError(error(message));
};

/** A tensor's values as float64 numbers (float, double, int32 or int64 tensors). */
export function tensorValues(t: TensorProto, what: string): { dims: number[]; values: number[] } {
  const dims = (t.dims ?? []).map(int);
  const count = dims.reduce((a, d) => a * d, 1);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    fail(
      `${what} keeps its data in an external file; vggc reads self-contained models ` +
        '(onnx.save(model, path, save_as_external_data=False))',
    );
  }
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  const size: Record<number, number> = { [FLOAT]: 4, [DOUBLE]: 8, [INT32]: 4, [INT64]: 8 };
  const type = t.dataType ?? 0;
  const bytes = size[type];
  if (!bytes) {
    const name = onnx.TensorProto.DataType[type] ?? String(type);
    return fail(`${what} has data type ${name}; vggc reads FLOAT, DOUBLE, INT32 and INT64 tensors`);
  }
  const values: number[] = [];
  if (view) {
    if (view.byteLength !== count * bytes) {
      fail(
        `${what} holds ${view.byteLength} bytes, its shape [${dims.join(', ')}] needs ${count * bytes}`,
      );
    }
    for (let i = 0; i < count; i++) {
      const at = i * bytes;
      values.push(
        type === FLOAT
          ? view!.getFloat32(at, true)
          : type === DOUBLE
            ? view!.getFloat64(at, true)
            : type === INT32
              ? view!.getInt32(at, true)
              : Number(view!.getBigInt64(at, true)),
      );
    }
  } else {
    const field =
      type === FLOAT
        ? t.floatData
        : type === DOUBLE
          ? t.doubleData
          : type === INT32
            ? t.int32Data
            : t.int64Data;
    const list = (field ?? []) as (number | { toNumber(): number })[];
    if (list.length !== count) {
      fail(`${what} holds ${list.length} values, its shape [${dims.join(', ')}] needs ${count}`);
    }
    for (const v of list) values.push(int(v));
  }
  return { dims, values };
}

/** A float tensor's values as float32, bit for bit when stored as FLOAT. */
export function floatTensor(t: TensorProto, what: string): { dims: number[]; data: Float32Array } {
  const dims = (t.dims ?? []).map(int);
  const count = dims.reduce((a, d) => a * d, 1);
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  if (t.dataType === FLOAT && raw && t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) {
    if (raw.byteLength !== count * 4)
      fail(
        `${what} holds ${raw.byteLength} bytes, its shape [${dims.join(', ')}] needs ${count * 4}`,
      );
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(raw);
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
      const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < count; i++) data[i] = v.getFloat32(i * 4, true);
    }
    return { dims, data };
  }
  if (t.dataType !== FLOAT && t.dataType !== DOUBLE) {
    const name = onnx.TensorProto.DataType[t.dataType ?? 0] ?? String(t.dataType);
    fail(`${what} has data type ${name}; weights must be FLOAT (or DOUBLE)`);
  }
  return { dims, data: Float32Array.from(tensorValues(t, what).values) };
}

/** Little-endian bytes of float32 values (the rawData of a FLOAT initializer). */
export function floatBytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const v = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) v.setFloat32(i * 4, data[i]!, true);
  return out;
}
