/**
 * The page reads a picked archive only within its own tree (issue 16, item 4): picked through the
 * Dataset panel's file control in headless Chromium (the page's own tar reader, DecompressionStream
 * and createImageBitmap), an ImageFolder archive with a symbolic and a hard link loads its three
 * images and the summary counts the two links; archives with a `..` entry (in the name, and in a
 * pax `path`) or an absolute entry are refused with the loader's error naming the entry.
 * tests/unit/archive-paths.test.ts covers the same in Node, case by case.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { encode as encodeJpeg } from 'jpeg-js';
import { type Page } from 'playwright-core';
import { paxData, type RawTarEntry, rawTarGz } from '../unit/helpers/tar-raw.ts';
import { launch, serve, skip, tempDir, viteBuild, watch } from './helpers.ts';

function solidJpeg(rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(32 * 32 * 4);
  for (let p = 0; p < 32 * 32; p++) data.set([...rgb, 255], 4 * p);
  return new Uint8Array(encodeJpeg({ width: 32, height: 32, data }, 90).data);
}

const image = (name: string, rgb: [number, number, number]): RawTarEntry => ({ name, type: '0', data: solidJpeg(rgb) });
const GOOD: RawTarEntry[] = [image('test/cat/0.jpg', [200, 40, 90]), image('train/cat/0.jpg', [10, 200, 30]), image('train/dog/0.jpg', [90, 90, 250])];

const refused = (file: string, path: string, why: 'dotdot' | 'absolute') =>
  `${file}: entry "${path}" ${why === 'dotdot' ? 'has a ".." component that leads outside the archive' : 'has an absolute path'}; ` +
  'an archive is read only within its own tree, so the archive is refused';

async function waitUntil(page: Page, what: string, ok: () => Promise<boolean>, log: string[], timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; page says: ${(await page.textContent('body'))?.slice(0, 600)}\n${log.join('\n')}`);
    await page.waitForTimeout(100);
  }
}

describe('archive paths in the page', { skip }, () => {
  test('links are skipped and counted in the summary; .. and absolute entries are refused naming the entry', { timeout: 240_000 }, async () => {
    const folder = tempDir('labelflow-archive-paths-');
    const archive = (name: string, entries: RawTarEntry[]) => {
      const file = join(folder, name);
      writeFileSync(file, rawTarGz(entries));
      return file;
    };
    const links = archive('links.tar.gz', [
      GOOD[0],
      { name: 'train/cat/link.jpg', type: '2', linkname: '../../../../etc/passwd' },
      GOOD[1],
      { name: 'train/dog/hard.jpg', type: '1', linkname: 'train/cat/0.jpg' },
      GOOD[2],
    ]);
    const hostile: [string, string, 'dotdot' | 'absolute'][] = [
      [archive('dotdot.tar.gz', [GOOD[0], image('../../escaped/train/cat/x.jpg', [1, 2, 3]), ...GOOD.slice(1)]), '../../escaped/train/cat/x.jpg', 'dotdot'],
      [archive('absolute.tar.gz', [GOOD[0], image('/abs/train/cat/x.jpg', [1, 2, 3]), ...GOOD.slice(1)]), '/abs/train/cat/x.jpg', 'absolute'],
      [archive('pax-dotdot.tar.gz', [GOOD[0], { name: 'PaxHeaders/x.jpg', type: 'x', data: paxData({ path: '../escaped/train/cat/x.jpg' }) }, image('train/cat/x.jpg', [1, 2, 3])]),
        '../escaped/train/cat/x.jpg', 'dotdot'],
    ];

    const url = await serve(viteBuild(), '/');
    const p = await (await launch(true)).newPage();
    const log = watch(p);
    await p.goto(url);
    await p.getByTestId('adapter').waitFor({ timeout: 60_000 });
    await p.selectOption('select[name=dataset]', 'file');

    const t0 = Date.now();
    await p.setInputFiles('input[name=archive]', links);
    const summary = p.getByTestId('dataset-summary');
    const error = p.getByTestId('dataset-error');
    await waitUntil(p, 'links.tar.gz to load', async () => (await summary.count()) > 0 || (await error.count()) > 0, log);
    if (await error.count()) assert.fail(`links.tar.gz: ${await error.textContent()}`);
    const text = (await summary.textContent()) ?? '';
    console.log(`links.tar.gz loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${text}`);
    assert.equal(await summary.getAttribute('data-train'), '2');
    assert.equal(await summary.getAttribute('data-test'), '1');
    assert.equal(await summary.getAttribute('data-skipped-links'), '2');
    assert.ok(text.includes('2 links (symbolic or hard) in the archive skipped: only its own files are read'), text);

    for (const [file, path, why] of hostile) {
      const name = file.slice(folder.length + 1);
      await p.setInputFiles('input[name=archive]', file);
      await waitUntil(p, `the error for ${name}`, async () => (await error.count()) > 0 && ((await error.textContent()) ?? '').startsWith(`${name}:`), log);
      const message = (await error.textContent()) ?? '';
      console.log(`${name}: ${message}`);
      assert.equal(message, refused(name, path, why));
    }
    assert.deepEqual(log, []);
  });
});
