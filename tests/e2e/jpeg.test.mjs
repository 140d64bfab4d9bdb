// The page's JPEG decoding (www/jpeg.js, the browser's libjpeg-turbo) gives Pillow's pixels, byte for byte, on
// all 1086 JPEGs of shared/data, the 76 originals of every flavour included (EXIF-tagged ones: Pillow's unrotated
// pixels; hashes from tests/reference/pil_decode_reference.py). Shared pieces: helpers.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { launch, repo, site, useSite, watch } from './helpers.mjs';

useSite();

test("the page decodes every JPEG to Pillow's pixels", { timeout: 300_000 }, async () => {
  const reference = JSON.parse(readFileSync(path.join(repo, 'tests/fixtures/preprocess/pil_decode.json'), 'utf8'));
  const context = await launch({ webgpu: false });
  try {
    const page = await context.newPage();
    watch(page, 'jpeg');
    await page.goto(`${site.url}config.js`);
    let checked = 0;
    const differing = [];
    for (const [folder, images] of Object.entries(reference.sets)) {
      const names = Object.keys(images);
      const decoded = await page.evaluate(async ({ folder, names }) => {
        const { browserJpegPixels } = await import('/jpeg.js');
        // What the worker explains: the browser's pixels through the wasm check (EXIF turned back as stored).
        const wasm = await import('/pkg/glassbox.js');
        await wasm.default({ module_or_path: '/pkg/glassbox_bg.wasm' });
        const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
        const out = [];
        for (const name of names) {
          const bytes = new Uint8Array(await (await fetch(`/shared/data/${folder}/${name}`)).arrayBuffer());
          const image = await browserJpegPixels(bytes);
          if (!image) { out.push(null); continue; }
          const pixels = wasm.decode_browser_jpeg(bytes, name, image.width, image.height, image.rgba);
          out.push({ width: pixels.width, height: pixels.height, sha256: hex(await crypto.subtle.digest('SHA-256', pixels.rgb)) });
        }
        return out;
      }, { folder, names });
      names.forEach((name, i) => {
        const want = images[name];
        const got = decoded[i];
        assert.ok(got, `${folder}/${name}: the page did not decode it`);
        assert.deepEqual([got.width, got.height], [want.width, want.height], `${folder}/${name}: size`);
        if (got.sha256 !== want.rgb_sha256) differing.push(`${folder}/${name}`);
        checked += 1;
      });
    }
    console.log(`# page JPEG decoding: ${checked} images, ${differing.length} differ from Pillow`);
    assert.equal(checked, 1086);
    assert.deepEqual(differing, [], 'JPEG pixels in the page differ from Pillow');
  } finally {
    await context.close();
  }
});
