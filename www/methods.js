// The methods' ids and titles, the one home of them in the site's JavaScript (the Rust side's is
// `results::Method::title`, whose titles these are): ids as `explanation.json` and `results.json` name them.

/** Every method's title, as the report writes it. */
const TITLES = {
  gradcam: 'Grad-CAM', ablationcam: 'AblationCAM', scorecam: 'ScoreCAM', gradcamplusplus: 'Grad-CAM++',
  xgradcam: 'XGrad-CAM', layercam: 'LayerCAM', eigencam: 'EigenCAM', hirescam: 'HiResCAM', lime: 'LIME',
};

/** The title of a method id (the id itself for one this list does not know). */
export const title = (id) => TITLES[id] ?? id;

/** The explain page's four methods, in the order of its cards. */
export const METHODS = ['gradcam', 'ablationcam', 'scorecam', 'lime'].map((id) => ({ id, name: title(id) }));
