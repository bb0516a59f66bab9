/**
 * A minimal Protocol Buffers writer (proto2/proto3 wire format), enough to write ONNX models
 * without a dependency. Browser-safe: no Node imports.
 *
 *   key     varint (field << 3 | wire type): 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
 *   varint  7 bits per byte, least significant first, high bit set on all but the last byte;
 *           negative int32/int64 are written as their 64-bit two's complement (10 bytes)
 *   length-delimited  varint byte count, then the bytes (strings as UTF-8, embedded messages, packed repeats)
 *
 * Fields are written in the order the caller writes them; a message is built bottom-up (a
 * sub-message is finished into bytes, then embedded), so no length needs patching.
 */

const WIRE_VARINT = 0;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

const encoder = new TextEncoder();

export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private scratch: number[] = [];
  private size = 0;

  /** Bytes written so far. */
  get length(): number {
    return this.size + this.scratch.length;
  }

  private flushScratch(): void {
    if (!this.scratch.length) return;
    const b = Uint8Array.from(this.scratch);
    this.chunks.push(b);
    this.size += b.length;
    this.scratch = [];
  }

  private rawVarint(value: number | bigint): void {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new Error(`protobuf: ${value} is not a safe integer`);
    // Fast path for small non-negative numbers (nearly everything ONNX writes).
    if (typeof value === 'number' && value >= 0 && value < 2 ** 31) {
      let n = value;
      while (n >= 0x80) {
        this.scratch.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      this.scratch.push(n);
      return;
    }
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.scratch.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.scratch.push(Number(v));
  }

  private key(field: number, wire: number): void {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) throw new Error(`protobuf: invalid field number ${field}`);
    this.rawVarint(field * 8 + wire);
  }

  private rawBytes(bytes: Uint8Array): void {
    this.rawVarint(bytes.length);
    this.flushScratch();
    if (bytes.length) {
      this.chunks.push(bytes);
      this.size += bytes.length;
    }
  }

  /** int32, int64, uint32, uint64, bool or enum: a varint (negative values as 64-bit two's complement). */
  varint(field: number, value: number | bigint | boolean): this {
    this.key(field, WIRE_VARINT);
    this.rawVarint(typeof value === 'boolean' ? (value ? 1 : 0) : value);
    return this;
  }

  /** A float (fixed32, little-endian). */
  float(field: number, value: number): this {
    this.key(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.scratch.push(...b);
    return this;
  }

  /** A string, as UTF-8. */
  string(field: number, value: string): this {
    this.key(field, WIRE_LENGTH);
    this.rawBytes(encoder.encode(value));
    return this;
  }

  /** A bytes field (not copied: the array must not change before finish()). */
  bytes(field: number, value: Uint8Array): this {
    this.key(field, WIRE_LENGTH);
    this.rawBytes(value);
    return this;
  }

  /** An embedded message. */
  message(field: number, value: ProtoWriter | Uint8Array): this {
    return this.bytes(field, value instanceof ProtoWriter ? value.finish() : value);
  }

  /** A repeated varint field, unpacked (one key per value: proto2's default, which every parser reads). */
  varints(field: number, values: readonly (number | bigint)[]): this {
    for (const v of values) this.varint(field, v);
    return this;
  }

  /** The message's bytes. */
  finish(): Uint8Array {
    this.flushScratch();
    if (this.chunks.length === 1) return this.chunks[0];
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    this.chunks = [out];
    return out;
  }
}
