// Where the site finds models and sample images. Nothing is uploaded anywhere: the page fetches these
// files and runs everything in a Web Worker (wasm + WebGPU, or wasm CPU when WebGPU is missing).
//
// Locally (`scripts/site.sh serve`, the e2e tests) the server maps /models/ to the repository's
// manifests and /shared/ to the shared data folder next to the repository. On GitHub Pages the
// workflow copies the manifests (and the exported ONNX files) into the site; set `sharedBase` to a
// public copy of the sample images if you have one (the images are not committed to the repository), and add
// its origin to `img-src` and `connect-src` in every page's Content-Security-Policy <meta>.
//
// `site.json` next to this file: empty here (the defaults below are used); a site assembled by
// scripts/reproduce.sh replaces it with the models it ships (the first is the default), a run note, and a
// banner that every page shows when the weights are not the official ones (a TEST MIRROR run).
const here = new URL('.', import.meta.url);
const site = await fetch(new URL('site.json', here)).then((r) => (r.ok ? r.json() : null)).catch(() => null);

export const config = {
  sharedBase: new URL('shared/data/', here).href,
  models: [
    {
      id: 'mobilenet_v2_1.0_224_b8',
      title: 'MobileNet v2 1.0 224 (ImageNet, real weights, batch 8)',
      manifest: new URL('models/mobilenet_v2_1.0_224_b8.json', here).href,
      howToGet: 'This site does not provide the MobileNet v2 file right now; choose another model.',
    },
    {
      id: 'mobilenet_v1_0.25_128_b8',
      title: 'MobileNet v1 0.25 128 (ImageNet, small and fast, batch 8)',
      manifest: new URL('models/mobilenet_v1_0.25_128_b8.json', here).href,
      howToGet: 'This site does not provide the MobileNet v1 file right now; choose another model.',
    },
    {
      id: 'resnet50_imagenet1k_v2_b8',
      title: 'ResNet-50 (torchvision IMAGENET1K_V2, batch 8)',
      manifest: new URL('models/resnet50_imagenet1k_v2_b8.json', here).href,
      // Not in git (98 MB of weights): a site built by scripts/reproduce.sh ships it (models/README.md).
      howToGet: 'ResNet-50 is not published on this site; choose one of the MobileNets.',
    },
  ],
  samples: [
    'n01443537_goldfish.JPEG', 'n01491361_tiger_shark.JPEG', 'n01608432_kite.JPEG', 'n01616318_vulture.JPEG',
    'n01677366_common_iguana.JPEG', 'n02007558_flamingo.JPEG', 'n02018207_American_coot.JPEG',
    'n02098286_West_Highland_white_terrier.JPEG', 'n04037443_racer.JPEG', 'n07747607_orange.JPEG',
  ].map((f) => ({ file: f, url: `imagenet-samples/${f}`, title: f.replace(/^n\d+_/, '').replace(/\.JPEG$/, '').replaceAll('_', ' ') })),
  banner: site?.banner || '',
  runNote: site?.run ?? '',
  // What the run computed per gallery image (a site assembled by scripts/reproduce.sh): file name -> the URL of
  // its folder (explanation.json, the methods' PNGs and .npy files). The page shows it before any model loads.
  runExplanations: Object.fromEntries(Object.entries(site?.run_explanations ?? {})
    .map(([file, folder]) => [file, new URL(folder, here).href])),
  // Defaults of the explanation controls: LIME takes the tutorial's 1000 samples when the page estimates they
  // take under a minute here, else `numSamples` (fewer is faster and rougher); the visitor may set any.
  lime: { numSamples: 300, seed: 0, batchSize: 8 },
  // The CPU engine's pool: one worker per core (worker.js also bounds it by memory), at most `maxWorkers`;
  // `?workers=N` in the page's URL asks for N.
  workers: Math.min(navigator.hardwareConcurrency || 1, 16),
  maxWorkers: 16,
};

if (site?.models?.length) {
  // `cpu_manifest`: the same model as a batch-1 graph, which the CPU engine loads instead (a single image is
  // then not charged a padded batch, and tract is faster per image at batch 1).
  config.models = site.models.map(({ cpu_manifest: cpu, ...m }) => ({ ...m, manifest: new URL(m.manifest, here).href,
    cpuManifest: cpu ? new URL(cpu, here).href : undefined,
    howToGet: 'This site was published without this model file; choose another model.' }));
}
if (config.banner && typeof document !== 'undefined') {
  const show = () => {
    const el = document.createElement('div');
    el.className = 'site-banner';
    el.setAttribute('role', 'alert');
    el.textContent = `${config.banner}: every result on this site was made from seeded random weights. ${config.runNote}`;
    document.body.prepend(el);
  };
  document.readyState === 'loading' ? document.addEventListener('DOMContentLoaded', show) : show();
}
