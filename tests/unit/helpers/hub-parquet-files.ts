/**
 * Parquet files of the Hugging Face Hub's CIFAR-10 schema (img struct<bytes: binary, path: string>,
 * label int64), written at test time with hyparquet-writer, and the PNG files that go in them.
 * Used by tests/unit/hub-parquet.test.ts and tests/e2e/hub-download.test.ts.
 */
import { ByteWriter, parquetWrite } from 'hyparquet-writer';
import { PNG } from 'pngjs';
import { CIFAR10_CLASSES, type ImageSet } from '../../../src/data/dataset.ts';

/** A PNG file (RGB, as the Hub's copy stores them) of CHW planes `chw` of a `width`×`height` image. */
export function pngOf(chw: Uint8Array, width: number, height = width): Uint8Array {
  const png = new PNG({ width, height, colorType: 2 });
  const hw = width * height;
  for (let p = 0; p < hw; p++) {
    png.data[4 * p] = chw[p];
    png.data[4 * p + 1] = chw[hw + p];
    png.data[4 * p + 2] = chw[2 * hw + p];
    png.data[4 * p + 3] = 255;
  }
  return new Uint8Array(PNG.sync.write(png, { colorType: 2 }));
}

/** Every image of `set` as a PNG file. */
export function pngsOf(set: ImageSet): Uint8Array[] {
  const pixels = 3 * set.size * set.size;
  return Array.from({ length: set.count }, (_, i) => pngOf(set.images.subarray(i * pixels, (i + 1) * pixels), set.size));
}

/** The `huggingface` key-value metadata `datasets` writes: the features, with the label's class names. */
export function hubFeatureMetadata(names: readonly string[] = CIFAR10_CLASSES): { key: string; value: string } {
  return {
    key: 'huggingface',
    value: JSON.stringify({ info: { features: { img: { _type: 'Image' }, label: { names: [...names], _type: 'ClassLabel' } } } }),
  };
}

export interface HubFileOptions {
  rowGroupSize?: number;
  /** The class names in the `huggingface` metadata; false leaves that metadata out. */
  labelNames?: readonly string[] | false;
}

/** A parquet file of the Hub's CIFAR-10 schema: row i holds `files[i]` (null: no bytes) and `labels[i]`. */
export function hubParquet(files: (Uint8Array | null)[], labels: readonly number[], o: HubFileOptions = {}): Uint8Array {
  const writer = new ByteWriter();
  parquetWrite({
    writer,
    columnData: [
      { name: 'img', data: files.map((bytes, i) => ({ bytes, path: `${i}.png` })) },
      { name: 'label', data: labels.map((l) => BigInt(l)) },
    ],
    schema: [
      { name: 'schema', num_children: 2 },
      { name: 'img', repetition_type: 'OPTIONAL', num_children: 2 },
      { name: 'bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
      { name: 'path', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      { name: 'label', type: 'INT64', repetition_type: 'OPTIONAL' },
    ],
    rowGroupSize: o.rowGroupSize ?? 1000,
    statistics: false,
    kvMetadata: o.labelNames === false ? [] : [hubFeatureMetadata(o.labelNames)],
  });
  return new Uint8Array(writer.getBuffer());
}

/** A parquet file with other columns: CIFAR-10's images as a plain binary `image` column and a `fine_label` string. */
export function otherSchemaParquet(files: Uint8Array[], labels: readonly number[]): Uint8Array {
  const writer = new ByteWriter();
  parquetWrite({
    writer,
    columnData: [
      { name: 'image', data: files, type: 'BYTE_ARRAY' },
      { name: 'fine_label', data: labels.map((l) => String(l)), type: 'STRING' },
    ],
  });
  return new Uint8Array(writer.getBuffer());
}

/** A parquet file with the right column names but `img` a plain binary column and `label` a string. */
export function wrongTypesParquet(files: Uint8Array[], labels: readonly number[], wrong: 'img' | 'label'): Uint8Array {
  const writer = new ByteWriter();
  const img = { name: 'img', data: wrong === 'img' ? files : files.map((bytes) => ({ bytes, path: null })) };
  const label = { name: 'label', data: wrong === 'label' ? labels.map((l) => String(l)) : labels.map((l) => BigInt(l)) };
  parquetWrite({
    writer,
    columnData: [img, label],
    schema: [
      { name: 'schema', num_children: 2 },
      ...(wrong === 'img'
        ? [{ name: 'img', type: 'BYTE_ARRAY' as const, repetition_type: 'OPTIONAL' as const }]
        : [{ name: 'img', repetition_type: 'OPTIONAL' as const, num_children: 2 }, { name: 'bytes', type: 'BYTE_ARRAY' as const, repetition_type: 'OPTIONAL' as const },
          { name: 'path', type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, repetition_type: 'OPTIONAL' as const }]),
      wrong === 'label'
        ? { name: 'label', type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, repetition_type: 'OPTIONAL' as const }
        : { name: 'label', type: 'INT64' as const, repetition_type: 'OPTIONAL' as const },
    ],
  });
  return new Uint8Array(writer.getBuffer());
}
