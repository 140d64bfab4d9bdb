// JPEG pixels from the browser's own decoder, for the worker (worker.js) and the browser test.
//
// Pillow, every Python reference here, decodes JPEG with libjpeg-turbo, and so does Chromium. The wasm
// build cannot link that C library and the pure-Rust decoder differs from it by up to 10 levels, so the
// page lets the browser decode (tests/e2e/jpeg.test.mjs checks the pixels equal Pillow's on 1086 JPEGs).

// The most pixels the browser is asked to decode; glassbox's own limit (preprocess::ImageLimits) is the
// same, so a bigger picture goes to the wasm decoder, which refuses it with a message before decoding.
const MAX_PIXELS = 64_000_000;

/** Width, height and number of components from a JPEG's frame header (SOFn), or null when there is none. */
function jpegSize(bytes) {
  let i = 2;
  while (i + 9 < bytes.length && bytes[i] === 0xff) {
    const marker = bytes[i + 1];
    const length = (bytes[i + 2] << 8) | bytes[i + 3];
    const isFrame = marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
    if (isFrame) {
      return { height: (bytes[i + 5] << 8) | bytes[i + 6], width: (bytes[i + 7] << 8) | bytes[i + 8], components: bytes[i + 9] };
    }
    i += 2 + length;
  }
  return null;
}

/**
 * A JPEG decoded by the browser: Chromium's decoder is libjpeg-turbo, as Pillow's is, and with colour-space
 * conversion off it gives Pillow's pixels exactly (tests/e2e/jpeg.test.mjs checks it), which the wasm
 * build's pure-Rust decoder does not. The browser turns the picture upright (EXIF orientation); the wasm
 * side turns it back as stored (preprocess::decode_named_with_jpeg_pixels), since Pillow does not apply EXIF.
 * Returns null for anything else (not a JPEG, CMYK, too big, or a file the browser cannot decode), which then
 * goes to the wasm decoder and its error messages.
 */
export async function browserJpegPixels(bytes) {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8 || typeof createImageBitmap !== 'function') return null;
  const size = jpegSize(bytes);
  if (!size || !size.width || !size.height || size.width * size.height > MAX_PIXELS) return null;
  // CMYK (4 components): Pillow converts it to RGB in its own code, and so does glassbox's decoder.
  if (size.components !== 1 && size.components !== 3) return null;
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }), {
      colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image',
    });
  } catch {
    return null;
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
  return { width: canvas.width, height: canvas.height, rgba: new Uint8Array(rgba.buffer) };
}
